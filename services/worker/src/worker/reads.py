"""What a run reads before it thinks, fetched in one round trip.

A turn needs its run record (was it committed already?), the runtime agents, the
session's history and the agent's memory. Read one after the other they cost four round
trips per run, which is most of a quick run's time; pipelined they cost one, and the
reads of runs that start together share that one.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio.client import Pipeline

from common.coalesce import Coalescer
from common.keys import Keys
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
