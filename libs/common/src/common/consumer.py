"""The lane consumer loop shared by router, worker and delivery.

It claims ready lanes (as many as it has free slots), runs one task per lane that hands
the lane's entries to the handler strictly in order, commits outputs then acks, renews
leases while handlers run, and on shutdown stops claiming, lets in-flight lanes finish
within the grace period and hands the rest back untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from common import metrics
from common.bus.lanes import SCRIPT_STRINGS, ClaimedLane, Entry, LaneBus, StateReads
from common.bus.writer import BatchWriter, Emit, Precommit, PrecommitFailed, Staged
from common.errors import Fenced, PermanentError, RateLimited, RetryableError
from common.keys import Stage
from common.retry import Backoff
from common.semaphore import Slots
from common.settings import Settings

log = logging.getLogger("clawbus.consumer")

LANES_FIRST_TURNS = 4
CLAIMS_AHEAD = 2  # claims in flight at once while they come back full

Claimed = tuple[list[tuple[ClaimedLane, str | None]], bool]

# A handler may hand back its outputs with a precommit (see ``Staged``): a write that goes
# in the commit's round trip and decides whether those outputs stand and the entries are acked.
EachHandler = Callable[[ClaimedLane, Entry], Awaitable[Sequence[Emit] | Staged]]
BatchHandler = Callable[[ClaimedLane, list[Entry]], Awaitable[Sequence[Emit] | Staged]]


@dataclass(slots=True)
class ConsumerOptions:
    concurrency: int
    batch: int = 50
    poll_interval_s: float = 0.25
    grace_s: float = 20.0
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)

    @classmethod
    def from_settings(cls, settings: Settings, concurrency: int) -> ConsumerOptions:
        return cls(
            concurrency=concurrency,
            batch=settings.batch_size,
            poll_interval_s=settings.poll_interval_s,
            grace_s=settings.drain_grace_s,
            max_attempts=settings.max_attempts,
            backoff=Backoff(settings.retry_base_s, settings.retry_max_s),
        )


class LaneConsumer:
    def __init__(
        self,
        bus: LaneBus,
        stage: Stage,
        handler: EachHandler | BatchHandler,
        options: ConsumerOptions,
        *,
        mode: Literal["each", "batch"] = "each",
        slots: Slots | None = None,
        reads: StateReads | None = None,
    ) -> None:
        self.bus = bus
        self.stage = stage
        self.handler = handler
        self.options = options
        self.mode = mode
        self.slots = slots
        self.reads = reads  # state each claimed lane comes with (see ``StateReads``)
        self.writer = BatchWriter(bus)
        self.running: dict[asyncio.Task[None], tuple[ClaimedLane, str | None]] = {}
        self.consuming = False
        self._freed = asyncio.Event()
        self._releasing: list[str] = []
        self._background: set[asyncio.Task[None]] = set()
        self._slot_of: dict[tuple[str, str], str] = {}  # (lane, token) -> its global slot
        self._returned: set[str] = set()
        self._stop = asyncio.Event()
        self._ringing: asyncio.Task[None] | None = None
        # the most lanes one claim can bring: its script bound, per partition
        self._per_claim = SCRIPT_STRINGS * bus.keys.partitions
        self._ring_again = False
        # export every series of this stage from the start, so increase() sees the first one
        for counter in (metrics.RETRIES, metrics.DEAD_LETTERS, metrics.FENCED):
            counter.labels(stage.value)
        for outcome in ("ok", "retry", "dead", "fenced", "dropped"):
            metrics.MESSAGES.labels(stage.value, outcome)
        # the series every message touches, looked up once
        self._ok = metrics.MESSAGES.labels(stage.value, "ok")
        self._queued = metrics.QUEUE_SECONDS.labels(stage.value)
        self._handled = metrics.HANDLER_SECONDS.labels(stage.value)

    def ready_check(self) -> Callable[[], Awaitable[str | None]]:
        async def check() -> str | None:
            return None if self.consuming else f"not consuming {self.stage.value} lanes"

        return check

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then drain and hand back."""
        await self.writer.start()
        renewer = asyncio.create_task(self._renew_loop(), name=f"renew-{self.stage}")
        try:
            await self._claim_loop(stop)
        finally:
            self.consuming = False
            await self._drain()
            if self._ringing is not None:  # a peer may still want waking: a moment for it
                await asyncio.wait([self._ringing], timeout=1.0)
                self._ringing.cancel()
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await self.writer.aclose()

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        backoff = Backoff(0.2, 5.0)
        failures = 0
        sleep = False  # the last claim took every ready lane: wait for the bell first
        # Claims in flight, oldest first, each with the lanes it may bring. While claims
        # come back full, a second is sent before the first returns: a claim's round trip
        # under load (10-20 ms) can outlast the work it brings (a worker's claim of 128
        # entries, about 8 ms), and the consumer would wait between the two.
        ahead: deque[tuple[asyncio.Task[Claimed], int]] = deque()
        try:
            while not stop.is_set():
                held = len(self.running) + sum(want for _, want in ahead)
                free = min(self.options.concurrency - held, self._per_claim)
                if not ahead and free <= 0:
                    self._freed.clear()
                    await _wait_any(stop, self._freed, within_s=self.options.poll_interval_s)
                    continue
                if free > 0 and (not ahead or (len(ahead) < CLAIMS_AHEAD and not sleep)):
                    # Not cancelled at shutdown: a wait ends within the poll interval, and
                    # the lanes it claimed then go back like any others not yet started.
                    wait_s = self.options.poll_interval_s if sleep and not ahead else 0
                    ahead.append((asyncio.create_task(self._claim(free, wait_s)), free))
                    if len(ahead) < CLAIMS_AHEAD and not sleep:
                        continue  # send the second before awaiting the first
                task, want = ahead.popleft()
                try:
                    claimed, more = await task
                    self.consuming = True
                    metrics.REDIS_UP.set(1)
                    failures = 0
                except (RedisError, OSError) as exc:
                    failures += 1
                    sleep = False
                    self.consuming = False
                    metrics.REDIS_UP.set(0)
                    log.warning("claim failed", extra={"stage": self.stage, "error": str(exc)})
                    await _wait_any(stop, within_s=backoff.delay(failures))
                    continue
                self._start(claimed)
                # took all it could, or all one script call hands over: more may be ready
                filled = more or len(claimed) >= want
                if claimed and filled:
                    self._ring_peers()
                # Every ready lane was taken and the bell silenced in the same round trip:
                # the next claim waits for a publish (or a re-armed lane) to ring again.
                sleep = not filled
                if sleep and claimed and not ahead:
                    # Let the lanes just claimed send their first round trip (a commit, or
                    # a run's reads: a few turns of the loop) before the next claim is
                    # built and sent: that claim only waits, the lanes are what a user
                    # waits for. A ring meanwhile stays on the bell, so the delay loses no
                    # wake-up.
                    for _ in range(LANES_FIRST_TURNS):
                        await asyncio.sleep(0)
        finally:
            # claims still in flight at shutdown: their lanes go back untouched
            for task, _ in ahead:
                with contextlib.suppress(RedisError, OSError, asyncio.CancelledError):
                    claimed, _ = await task
                    await self._hand_back(claimed)

    def _start(self, claimed: list[tuple[ClaimedLane, str | None]]) -> None:
        for lane, slot in claimed:
            if slot is not None:
                self._slot_of[lane.lane, lane.token] = slot
            task = asyncio.create_task(self._run_lane(lane, slot))
            self.running[task] = (lane, slot)
            task.add_done_callback(self._done)

    async def _hand_back(self, claimed: list[tuple[ClaimedLane, str | None]]) -> None:
        self._give_back([slot for _, slot in claimed if slot is not None])
        for lane, _ in claimed:
            await self.bus.handback(lane)

    def _ring_peers(self) -> None:
        """Wake a peer replica for the ready lanes this claim left, in the background:
        the ring's reply queues behind this process's commits, and neither the lanes just
        claimed nor the next claim need wait for it. One ring in flight at a time; one
        asked for meanwhile is sent after it."""
        self._ring_again = True
        if self._ringing is not None and not self._ringing.done():
            return

        async def ring() -> None:
            while self._ring_again:
                self._ring_again = False
                with contextlib.suppress(RedisError, OSError):
                    await self.bus.ring(self.stage)

        self._ringing = asyncio.create_task(ring(), name=f"ring-{self.stage}")

    async def _claim(
        self, free: int, wait_s: float
    ) -> tuple[list[tuple[ClaimedLane, str | None]], bool]:
        """Lanes claimed (each with its global slot, if any), and whether more are ready.

        With the global cap, the claim takes no more lanes than it has room for, and a
        slot for each lane it takes, in its own script. Once the cap was reached, the next
        claim waits until a look at the slots finds room: a ring or the poll interval asks
        again."""
        slots = self.slots
        if slots is not None and slots.room == 0 and await slots.free() == 0:
            if wait_s > 0:
                await self.bus.wait(self.stage, wait_s)
            return [], False
        claim = await self.bus.claim_and(
            self.stage,
            free,
            self.options.batch,
            hush=True,
            wait_s=wait_s,
            reads=self.reads,
            slots=slots.claim if slots is not None else None,
        )
        if slots is None:
            return [(lane, None) for lane in claim.lanes], claim.more
        slots.claimed(claim.room)
        return list(zip(claim.lanes, claim.slots, strict=True)), claim.more

    def _give_back(self, slots: list[str]) -> None:
        """Release slots in the background, several per round trip."""
        if not slots:
            return
        if not self._releasing:  # the first of this loop turn: one release for all
            release = asyncio.get_running_loop().create_task(self._release_slots())
            self._background.add(release)
            release.add_done_callback(self._background.discard)
        self._releasing += slots

    def _done(self, task: asyncio.Task[None]) -> None:
        _, slot = self.running.pop(task, (None, None))
        if slot in self._returned:  # went back with the lane's last commit
            self._returned.discard(slot)
        elif slot is not None and self.slots is not None:
            self._give_back([slot])
        self._freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("lane task crashed", exc_info=task.exception())

    async def _release_slots(self) -> None:
        assert self.slots is not None
        await asyncio.sleep(0)
        slots, self._releasing = self._releasing, []
        with contextlib.suppress(RedisError, OSError):
            await self.slots.release(slots)

    async def _drain(self) -> None:
        if self.running:
            _, pending = await asyncio.wait(list(self.running), timeout=self.options.grace_s)
            for task in pending:
                lane, _ = self.running.get(task, (None, None))
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                if lane is not None and not lane.lost:
                    with contextlib.suppress(RedisError, OSError):
                        await self.bus.handback(lane)
        if self.slots is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.slots.release([s for _, s in self.running.values() if s])

    async def _renew_loop(self) -> None:
        interval = self.bus.lease_ttl_ms / 3000
        while True:
            await asyncio.sleep(interval)
            held = {lane.lane: (task, lane) for task, (lane, _) in self.running.items()}
            if not held:
                continue
            try:
                lost = await self.bus.renew([lane for _, lane in held.values()])
                if self.slots is not None:
                    await self.slots.renew([s for _, s in self.running.values() if s])
            except (RedisError, OSError) as exc:
                log.warning("lease renewal failed", extra={"error": str(exc)})
                continue
            for lane in lost:
                task, held_lane = held[lane.lane]
                held_lane.lost = True
                metrics.FENCED.labels(self.stage).inc()
                task.cancel()

    # -- one lane --------------------------------------------------------------------------

    async def _run_lane(self, lane: ClaimedLane, slot: str | None) -> None:
        stage = self.stage.value
        started = time.monotonic()
        now_ms = time.time() * 1000
        metrics.observe_all(
            self._queued,
            [
                max(0.0, (now_ms - e.envelope.created_ms) / 1000)
                for e in lane.entries
                if e.envelope is not None
            ],
        )
        try:
            if self.mode == "each":
                await self._each(lane)
            else:
                await self._batch(lane)
        except Fenced:
            lane.lost = True
            metrics.FENCED.labels(stage).inc()
            metrics.MESSAGES.labels(stage, "fenced").inc(len(lane.entries))
        finally:
            self._slot_of.pop((lane.lane, lane.token), None)
            self._handled.observe(time.monotonic() - started)

    def _poison(self, entry: Entry) -> str | None:
        if entry.error is not None:
            return entry.error
        if entry.attempts >= self.options.max_attempts:
            return f"gave up after {entry.attempts} attempts (its handlers kept dying)"
        return None

    async def _each(self, lane: ClaimedLane) -> None:
        handler: EachHandler = self.handler  # type: ignore[assignment]
        done: list[str] = []
        emits: list[Emit] = []
        last = lane.entries[-1] if lane.entries else None
        for entry in lane.entries:
            reason = self._poison(entry)
            if reason is None:
                try:
                    out = await handler(lane, entry)
                except (RetryableError, PermanentError, Exception) as exc:
                    if isinstance(exc, Fenced):
                        raise
                    await self._commit(lane, done, emits, release=False)
                    await self._failed(lane, [entry], exc)
                    return
                if not isinstance(out, Staged):
                    emits += out
                    done.append(entry.id)
                    continue
                # A staged effect (a send whose receipt decides its ack) goes in a commit
                # of its own, after the entries before it: if it fails, only it is retried.
                await self._commit(lane, done, emits, release=False)
                done, emits = [], []
                try:
                    await self._commit(
                        lane, [entry.id], out.emits, release=entry is last, precommit=out.precommit
                    )
                except PrecommitFailed as exc:
                    await self._failed(lane, [entry], exc.__cause__ or exc)
                    return
                if entry is last:
                    return
                continue
            await self._commit(lane, done, emits, release=False)
            await self._dead(lane, [entry], reason)
            return
        await self._commit(lane, done, emits, release=True)

    async def _batch(self, lane: ClaimedLane) -> None:
        handler: BatchHandler = self.handler  # type: ignore[assignment]
        good: list[Entry] = []
        for entry in lane.entries:
            if self._poison(entry) is not None:
                break
            good.append(entry)
        if good:
            try:
                out = await handler(lane, good)
            except Fenced:
                raise
            except Exception as exc:
                await self._failed(lane, good, exc)
                return
            rest = len(good) < len(lane.entries)
            emits, precommit = (
                (out.emits, out.precommit) if isinstance(out, Staged) else (list(out), None)
            )
            try:  # only a precommit can fail this way
                await self._commit(
                    lane, [e.id for e in good], emits, release=not rest, precommit=precommit
                )
            except PrecommitFailed as exc:
                await self._failed(lane, good, exc.__cause__ or exc)
                return
        if len(good) < len(lane.entries):
            poison = lane.entries[len(good)]
            await self._dead(lane, [poison], self._poison(poison) or "poison")

    async def _commit(
        self,
        lane: ClaimedLane,
        ids: list[str],
        emits: list[Emit],
        *,
        release: bool,
        precommit: Precommit | None = None,
    ) -> None:
        if not ids and not release:
            return
        # the lane's last commit gives its global slot back in the same round trip
        slot = (
            self._slot_of.get((lane.lane, lane.token))
            if release and self.slots is not None
            else None
        )
        slots = self.slots

        def give_back(pipe: Pipeline) -> None:
            assert slots is not None and slot is not None
            slots.queue_release(pipe, [slot])

        rearmed = await self.writer.commit(
            lane, ids, emits, release=release, also=give_back if slot else None, precommit=precommit
        )
        if slot is not None and slots is not None:
            self._returned.add(slot)
            slots.released(1)
        self._ok.inc(len(ids))
        if rearmed:
            self._freed.set()

    async def _failed(self, lane: ClaimedLane, entries: list[Entry], exc: BaseException) -> None:
        stage = self.stage.value
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, PermanentError):
            await self._dead(lane, entries, error)
            return
        if not isinstance(exc, RetryableError):
            log.exception("handler raised", exc_info=exc, extra={"stage": stage})
        attempt = entries[0].attempts + 1
        delay = self.options.backoff.delay(attempt)
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            delay = max(exc.retry_after, 0.0)
        dead, _ = await self.bus.fail(
            lane,
            [e.id for e in entries],
            error,
            delay_s=delay,
            charge=not isinstance(exc, RateLimited),
        )
        if dead:
            metrics.DEAD_LETTERS.labels(stage).inc(len(entries))
            metrics.MESSAGES.labels(stage, "dead").inc(len(entries))
        else:
            metrics.RETRIES.labels(stage).inc()
            metrics.MESSAGES.labels(stage, "retry").inc(len(entries))

    async def _dead(self, lane: ClaimedLane, entries: list[Entry], reason: str) -> None:
        stage = self.stage.value
        await self.bus.fail(lane, [e.id for e in entries], reason, delay_s=0, dead=True)
        metrics.DEAD_LETTERS.labels(stage).inc(len(entries))
        metrics.MESSAGES.labels(stage, "dead").inc(len(entries))
        log.warning("dead-lettered", extra={"stage": stage, "lane": lane.lane, "error": reason})


async def _wait_any(
    *events: asyncio.Event, waiter: Awaitable[object] | None = None, within_s: float
) -> None:
    """Wait until any event is set, ``waiter`` completes, or ``timeout`` passes."""
    tasks: list[asyncio.Future[object]] = [asyncio.ensure_future(e.wait()) for e in events]
    if waiter is not None:
        tasks.append(asyncio.ensure_future(waiter))
    try:
        done, _ = await asyncio.wait(tasks, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
