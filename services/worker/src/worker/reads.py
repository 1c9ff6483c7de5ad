"""What a run reads before it thinks: with the lane's claim, or in one round trip.

A turn needs its run record (was it committed already?), the runtime agents, the
session's history and the agent's memory. The worker's claim reads the last three for
every lane it takes, in the claim's own round trip (``StateReads``). A run record is left
by a holder that committed and died before its ack, whose entries come back as a
re-delivery: such a turn reads everything again in one pipelined round trip, which the
reads of runs that start together share, as does a turn whose agent is not the one its
session is named after. (The same inputs can also come back as new entries, when one is
published again after the lanes' de-duplication window, such as a dead letter replayed
later: that turn thinks again, and its commit still finds the record and sends what the
record holds, so nothing is applied twice.)
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio.client import Pipeline

from common.bus import ClaimedLane, StateReads
from common.coalesce import Coalescer
from common.keys import Keys
from worker.history import HistoryHeld
from worker.turn import Turn


@dataclass(frozen=True, slots=True)
class RunReads:
    record: bytes | None
    agents: dict[bytes, bytes]
    history: list[bytes]
    memory: bytes | None


async def read_run(batch: Coalescer, keys: Keys, turn: Turn) -> RunReads:
    def queue(pipe: Pipeline) -> None:
        pipe.get(keys.run(turn.session, turn.run_id))
        pipe.hgetall(keys.runtime_agents)
        pipe.lrange(keys.history(turn.session), 0, -1)
        pipe.get(keys.memory(turn.agent))

    record, agents, history, memory = await batch.run(queue)
    return RunReads(record, agents, history, memory)


def state_reads(keys: Keys, held: HistoryHeld) -> StateReads:
    """What the worker's claim reads for each session it takes (a history this process
    wrote last comes as its length: ``held`` has it, unless it keeps none)."""
    writer = held.writer if held.items > 0 else ""
    return StateReads(
        keys.history(""), keys.memory(""), keys.runtime_agents, keys.history_writers, writer
    )


def claimed_reads(lane: ClaimedLane, turn: Turn, held: HistoryHeld) -> RunReads | None:
    """The reads the claim brought, if they serve this turn: entries read for the first
    time (no holder can have committed them) of a session named after the turn's agent
    (whose memory the claim read), with the history sent or, when this process wrote it
    last, the one ``held`` keeps at the length the claim found."""
    state = lane.state
    if state is None or lane.redelivered or lane.lane.split("|", 1)[0] != turn.agent:
        return None
    history = state.items if state.items is not None else held.get(lane.lane, state.length)
    if history is None:  # this process wrote it last, but no longer keeps it
        return None
    return RunReads(None, state.table, history, state.value)
