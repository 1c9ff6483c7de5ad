"""The typing indicator: published once a run has been thinking for ``delay_s`` (a quick
answer shows no flicker and costs no extra delivery) and refreshed while it goes on.

Typing goes straight into the deliver lane (not with the run's other emits, which wait
for the end of the run). Its ids repeat per attempt and refresh, so the lane keeps one of
each; delivery sends typing without receipts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.exceptions import RedisError

from common.bus import LaneBus
from common.keys import Stage
from common.messages import OutboundMessage
from worker import emits
from worker.timers import CoarseTimers
from worker.turn import Turn, is_agent

log = logging.getLogger("clawbus.worker")


class Presence:
    def __init__(
        self, bus: LaneBus, interval_s: float, delay_s: float, timers: CoarseTimers
    ) -> None:
        self.bus = bus
        self.interval_s = interval_s
        self.delay_s = delay_s
        self.timers = timers  # the runtime's, shared with the runs' timeouts

    def typing(self, turn: Turn) -> _Typing:
        """``async with``: typing shows while the block runs, from ``delay_s`` on."""
        return _Typing(self, turn)

    async def _refresh(self, turn: Turn, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            out = OutboundMessage(
                id=turn.effect_id("typing", str(turn.attempt), str(n)),
                action="typing",
                destination=turn.reply_to,
                agent=turn.agent,
                session=turn.session,
            )
            emit = emits.outbound(turn, out)
            try:
                await self.bus.publish(Stage.DELIVER, [(emit.lane, emit.envelope)])
            except (RedisError, OSError) as exc:
                log.warning("typing not sent", extra={"error": str(exc)})
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)


class _Typing:
    """The typing indicator of one run. A stop flag, not task.cancel(): a cancel that lands
    inside a Redis call can be swallowed by the client, which would leave the loop running.
    Most runs end before the delay: they cost a coarse timer (a tick late at most), not a
    task (nor a flag); with no delay, typing starts at the run's first wait."""

    __slots__ = ("key", "presence", "soon", "stop", "task", "turn")

    def __init__(self, presence: Presence, turn: Turn) -> None:
        self.presence = presence
        self.turn = turn
        self.key: int | None = None
        self.soon: asyncio.Handle | None = None
        self.stop: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        if is_agent(self.turn.reply_to):
            return
        delay = self.presence.delay_s
        if delay > 0:
            self.key = self.presence.timers.add(time.monotonic() + delay, self._start)
        else:
            self.soon = asyncio.get_running_loop().call_soon(self._start)

    async def __aexit__(self, *exc: object) -> None:
        if self.key is not None:
            self.presence.timers.cancel(self.key)
        if self.soon is not None:
            self.soon.cancel()
        if self.task is not None:
            assert self.stop is not None
            self.stop.set()
            await self.task

    def _start(self) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.presence._refresh(self.turn, self.stop))
