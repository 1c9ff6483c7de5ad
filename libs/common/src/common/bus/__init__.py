"""The bus: the only package that issues Redis stream commands."""

from common.bus.lanes import ClaimedLane, DeadLetter, Entry, LaneBus, LaneStats
from common.bus.streams import Streams

__all__ = ["ClaimedLane", "DeadLetter", "Entry", "LaneBus", "LaneStats", "Streams"]
