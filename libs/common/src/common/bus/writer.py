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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.client import Pipeline

from common.bus.lanes import ClaimedLane, GuardedFinish, LaneBus, ScriptCall
from common.envelope import Envelope
from common.errors import Fenced
from common.keys import Stage
from common.retry import Backoff

log = logging.getLogger("clawbus.writer")


@dataclass(slots=True)  # not frozen (see Envelope), never changed once made
class Emit:
    """An output of a handler: an envelope for a lane of a stage."""

    stage: Stage
    lane: str
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class Precommit:
    """A write that must stand before a lane's outputs are published and its entries
    acked, run with them in one step of the commit's round trip (``LaneBus.commit``).

    ``call`` (a script) sets ``key`` to a value whose SHA1 is ``sha`` unless ``key`` is set
    already: an earlier holder of the lane got there first. The outputs are published and
    the entries acked only if ``key`` then holds this value (with an empty ``sha``: any
    value, as when the write is a receipt that any attempt may have left); otherwise
    ``recover`` turns the call's reply into the outputs that stand, and those are committed
    instead. ``recover`` raises when the reply is an error (the step's: a refused publish
    fails it too), and the commit then fails with ``PrecommitFailed``, nothing acked (and
    nothing published when the precommit itself failed); or ``Fenced`` when the call found
    the lane's lease lost, and the commit fails with that. ``landed``, if given, is told
    the call's reply whenever the call did not fail. With ``drop``, ``key`` is deleted in
    the same step that acks the entries: a record needed only until then. With
    ``unwritten`` (the value and its time to live, seconds; it implies ``drop``), ``call``
    does not set an unset ``key`` and answers false: the value is written only where that
    step stops short of the ack, and otherwise never written, read or deleted.
    """

    call: ScriptCall
    key: str
    sha: str
    recover: Callable[[Any], Sequence[Emit]]
    landed: Callable[[Any], None] | None = None
    drop: bool = False
    unwritten: tuple[bytes, int] | None = None


@dataclass(frozen=True, slots=True)
class Staged:
    """A handler's outputs and the precommit that decides whether they stand."""

    emits: list[Emit]
    precommit: Precommit


class PrecommitFailed(Exception):
    """A precommit's write failed: the lane's outputs were not published, its entries not
    acked."""


@dataclass(slots=True)
class _Commit:
    lane: ClaimedLane
    ids: list[str]
    release: bool
    emits: list[Emit]
    also: Callable[[Pipeline], object] | None
    precommit: Precommit | None = None
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
        precommit: Precommit | None = None,
    ) -> bool:
        """Publish ``emits``, then ack ``ids``; ``also`` queues blind writes that go with
        the ack (they are sent only if the emits landed). With a ``precommit``, the
        outputs that stand are committed (see ``Precommit``). Returns True if the lane was
        re-armed."""
        item = _Commit(lane, ids, release, emits, also, precommit)
        self._queue.append(item)
        self._wake.set()
        return await item.done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if batch:
                await self._flush_or_fail(batch)

    async def _flush_or_fail(self, batch: list[_Commit]) -> None:
        """A flush whose own code failed fails its commits (none waits on it for ever), and
        the writer goes on with the next: an error escaping here would end the writer's
        task, and every commit after it would wait for ever."""
        try:
            await self._flush(batch)
        except Exception as exc:
            log.exception("a flush failed")
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(exc)

    async def _flush(self, batch: list[_Commit]) -> None:
        plain = [item for item in batch if item.precommit is None]
        staged = [item for item in batch if item.precommit is not None]
        outputs = _by_stage(e for item in plain for e in item.emits)
        guarded = [
            GuardedFinish(
                pre.call,
                pre.key,
                pre.sha,
                _by_stage(item.emits),
                item.lane,
                item.ids,
                item.release,
                pre.drop,
                pre.unwritten,
            )
            for item in staged
            if (pre := item.precommit) is not None
        ]
        extras = [item.also for item in batch if item.also is not None]

        def tail(pipe: Pipeline) -> None:
            for also in extras:
                also(pipe)

        try:
            done = await self.bus.commit(
                outputs,
                [(item.lane, item.ids, item.release) for item in plain],
                tail if extras else None,
                guarded,
            )
        except Exception as exc:  # connection trouble: every lane retries
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(exc)
            return
        why = "; ".join(str(e) for e in done.refused.values())
        settled: list[tuple[_Commit, int | Exception, list[Emit], str]] = [
            (item, result, [e for e in item.emits if e.stage in done.refused], why)
            for item, result in zip(plain, done.finished, strict=True)
        ]
        for item, (reply, result) in zip(staged, done.guarded, strict=True):
            landed = item.precommit.landed if item.precommit is not None else None
            if landed is not None and not isinstance(reply, Exception):
                try:
                    landed(reply)
                except Exception:
                    log.exception("a precommit's landing hook failed")
            if result == -2 or isinstance(result, Exception):  # its record did not stand
                self._recover(item, reply)
            else:  # published and finished in one step with its precommit: nothing owed
                settled.append((item, result, [], ""))
        self._settle(settled)
        rearmed = {item.lane.stage for item, result, _, _ in settled if result == 2}
        for stage in rearmed:  # entries arrived while the lane was held: wake a consumer
            with contextlib.suppress(Exception):
                await self.bus.ring(stage)

    def _recover(self, item: _Commit, reply: Any) -> None:
        """Another record stood (or the precommit failed): commit what stands instead, in
        the next flush. Its blind writes went with this one."""
        assert item.precommit is not None
        try:
            emits = list(item.precommit.recover(reply))
        except Fenced as exc:  # another holder has the lane: nothing of this one stands
            item.done.set_exception(exc)
            return
        except Exception as exc:
            failed = PrecommitFailed(f"{type(exc).__name__}: {exc}")
            failed.__cause__ = exc
            item.done.set_exception(failed)
            return
        self._queue.append(_Commit(item.lane, item.ids, item.release, emits, None, done=item.done))
        self._wake.set()

    def _settle(self, settled: list[tuple[_Commit, int | Exception, list[Emit], str]]) -> None:
        for item, result, refused, why in settled:
            if refused and result in (1, 2):  # acked: the lane is done, its outputs owed
                self._publish_again(refused, why)
            if item.done.done():
                continue
            if isinstance(result, Exception):
                item.done.set_exception(result)
            elif result == -1:
                item.done.set_exception(Fenced(f"lease on {item.lane.lane} lost"))
            else:
                item.done.set_result(result == 2)

    def _publish_again(self, emits: list[Emit], why: str) -> None:
        """Outputs Redis refused although it acked their inputs (only a keyspace damaged
        by hand does that): keep publishing them from memory until it takes them."""
        log.error(
            "outputs refused after their inputs were acked; publishing them again",
            extra={"outputs": len(emits), "error": why},
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


def _by_stage(emits: Iterable[Emit]) -> dict[Stage, list[tuple[str, Envelope]]]:
    out: dict[Stage, list[tuple[str, Envelope]]] = defaultdict(list)
    for emit in emits:
        out[emit.stage].append((emit.lane, emit.envelope))
    return out
