"""Coalesces the commits of many lanes into two pipelined round trips.

A lane commits its outputs and its acks as one unit. Per flush, all outputs of all lanes
go out first (grouped into one script call per partition), then the acks of exactly
those lanes whose outputs landed. An ack is never sent for an output that failed, so a
crash or error between the two costs a retry (de-duplicated by id), never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio.client import Pipeline

from common.bus.lanes import ClaimedLane, LaneBus
from common.envelope import Envelope
from common.errors import Fenced
from common.keys import Stage


@dataclass(frozen=True, slots=True)
class Emit:
    """An output of a handler: an envelope for a lane of a stage."""

    stage: Stage
    lane: str
    envelope: Envelope


@dataclass(slots=True)
class _Commit:
    lane: ClaimedLane
    ids: list[str]
    release: bool
    emits: list[Emit]
    also: Callable[[Pipeline], object] | None
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class BatchWriter:
    def __init__(self, bus: LaneBus) -> None:
        self.bus = bus
        self._queue: list[_Commit] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.duplicates: dict[Stage, int] = defaultdict(int)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batch-writer")

    async def aclose(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def commit(
        self,
        lane: ClaimedLane,
        ids: list[str],
        emits: list[Emit],
        *,
        release: bool,
        also: Callable[[Pipeline], object] | None = None,
    ) -> bool:
        """Publish ``emits``, then ack ``ids``; ``also`` queues blind writes that go with
        the ack (they are sent only if the emits landed). Returns True if the lane was
        re-armed."""
        item = _Commit(lane, ids, release, emits, also)
        self._queue.append(item)
        self._wake.set()
        return await item.done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if batch:
                await self._flush(batch)

    async def _flush(self, batch: list[_Commit]) -> None:
        ok = await self._publish(batch)
        for item, err in zip(batch, ok, strict=True):
            if err is not None and not item.done.done():
                item.done.set_exception(err)
        pending = [item for item, err in zip(batch, ok, strict=True) if err is None]
        if pending:
            await self._finish(pending)

    async def _finish(self, pending: list[_Commit]) -> None:
        extras = [item.also for item in pending if item.also is not None]

        def tail(pipe: Pipeline) -> None:
            for also in extras:
                also(pipe)

        try:
            results = await self.bus.finish_many(
                [(item.lane, item.ids, item.release) for item in pending],
                tail if extras else None,
            )
        except Exception as exc:  # connection trouble: every lane retries
            for item in pending:
                if not item.done.done():
                    item.done.set_exception(exc)
            return
        rearmed = {
            item.lane.stage for item, result in zip(pending, results, strict=True) if result == 2
        }
        for stage in rearmed:  # entries arrived while the lane was held: wake a consumer
            with contextlib.suppress(Exception):
                await self.bus.ring(stage)
        for item, result in zip(pending, results, strict=True):
            if item.done.done():
                continue
            if result == -1:
                item.done.set_exception(Fenced(f"lease on {item.lane.lane} lost"))
            else:
                item.done.set_result(result == 2)

    async def _publish(self, batch: list[_Commit]) -> list[BaseException | None]:
        by_stage: dict[Stage, list[tuple[str, Envelope]]] = defaultdict(list)
        for item in batch:
            for emit in item.emits:
                by_stage[emit.stage].append((emit.lane, emit.envelope))
        if not by_stage:
            return [None] * len(batch)
        try:
            for stage, items in by_stage.items():
                dups = await self.bus.publish(stage, items)
                self.duplicates[stage] += sum(dups)
        except Exception as exc:
            return [exc if item.emits else None for item in batch]
        return [None] * len(batch)
