"""The bus: the only package that issues Redis stream commands."""

from common.bus.lanes import (
    ClaimedLane,
    DeadLetter,
    Entry,
    LaneBus,
    LaneState,
    LaneStats,
    StateReads,
)
from common.bus.streams import Streams

__all__ = [
    "ClaimedLane",
    "DeadLetter",
    "Entry",
    "LaneBus",
    "LaneState",
    "LaneStats",
    "StateReads",
    "Streams",
]
