"""Coalesces the commits of many lanes into one pipelined round trip.

A lane commits its outputs and its acks as one unit. Per flush, all outputs of all lanes
(one script call per partition) and then all acks go out in one pipeline, which Redis
runs in order: an ack never runs before the outputs queued ahead of it, and a crash or a
connection lost midway costs a retry (de-duplicated by id), never a loss. Publishes that
Redis could refuse while taking the acks are ruled out where they can be (see
``LaneBus.commit``); any other refusal is published again from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio.client import Pipeline

from common.bus.lanes import ClaimedLane, Committed, LaneBus
from common.envelope import Envelope
from common.errors import Fenced
from common.keys import Stage
from common.retry import Backoff

log = logging.getLogger("clawbus.writer")


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
        self._again: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batch-writer")

    async def aclose(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._again:  # outputs still owed at shutdown are lost with this process: say so
            log.error(
                "stopping with refused outputs unpublished", extra={"batches": len(self._again)}
            )
            for task in list(self._again):
                task.cancel()
            await asyncio.gather(*self._again, return_exceptions=True)

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
        outputs: dict[Stage, list[tuple[str, Envelope]]] = defaultdict(list)
        for item in batch:
            for emit in item.emits:
                outputs[emit.stage].append((emit.lane, emit.envelope))
        extras = [item.also for item in batch if item.also is not None]

        def tail(pipe: Pipeline) -> None:
            for also in extras:
                also(pipe)

        try:
            done = await self.bus.commit(
                outputs,
                [(item.lane, item.ids, item.release) for item in batch],
                tail if extras else None,
            )
        except Exception as exc:  # connection trouble: every lane retries
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(exc)
            return
        self._settle(batch, done)
        rearmed = {
            item.lane.stage
            for item, result in zip(batch, done.finished, strict=True)
            if result == 2
        }
        for stage in rearmed:  # entries arrived while the lane was held: wake a consumer
            with contextlib.suppress(Exception):
                await self.bus.ring(stage)

    def _settle(self, batch: list[_Commit], done: Committed) -> None:
        for item, result in zip(batch, done.finished, strict=True):
            refused = [e for e in item.emits if e.stage in done.refused]
            if refused and result in (1, 2):  # acked: the lane is done, its outputs owed
                self._publish_again(refused, done.refused)
            if item.done.done():
                continue
            if isinstance(result, Exception):
                item.done.set_exception(result)
            elif result == -1:
                item.done.set_exception(Fenced(f"lease on {item.lane.lane} lost"))
            else:
                item.done.set_result(result == 2)

    def _publish_again(self, emits: list[Emit], why: dict[Stage, Exception]) -> None:
        """Outputs Redis refused although it acked their inputs (only a keyspace damaged
        by hand does that): keep publishing them from memory until it takes them."""
        log.error(
            "outputs refused after their inputs were acked; publishing them again",
            extra={"outputs": len(emits), "error": str(next(iter(why.values())))},
        )
        task = asyncio.get_running_loop().create_task(self._republish(emits))
        self._again.add(task)
        task.add_done_callback(self._again.discard)

    async def _republish(self, emits: list[Emit]) -> None:
        backoff = Backoff(0.1, 5.0)
        attempt = 0
        while True:
            attempt += 1
            try:
                for emit in emits:
                    await self.bus.publish(emit.stage, [(emit.lane, emit.envelope)])
                return
            except Exception as exc:
                log.error("publishing again failed", extra={"error": str(exc)})
                await asyncio.sleep(backoff.delay(attempt))
