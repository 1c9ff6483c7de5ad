"""Timers for what every run arms and almost never fires: its timeout, its typing indicator.

An event-loop timer costs microseconds to arm and cancel, and ``asyncio.timeout`` several
times that; a run armed two and, unless it was slow, cancelled both (together about a
twentieth of a quick turn's CPU). Here arming is a dict insertion: while any timer is armed,
one loop timer ticks every ``tick_s`` and fires those that are due, so a timer fires up to
a tick late. Times are ``time.monotonic()``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger("clawbus.worker")

TICK_S = 0.1


class CoarseTimers:
    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self._due: dict[int, tuple[float, Callable[[], object]]] = {}
        self._keys = itertools.count()
        self._ticking: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._due)

    def add(self, when: float, callback: Callable[[], object]) -> int:
        """Call ``callback`` at ``when`` (or up to a tick later); returns its key."""
        key = next(self._keys)
        self._due[key] = (when, callback)
        if self._ticking is None:
            self._ticking = asyncio.get_running_loop().call_later(self.tick_s, self._tick)
        return key

    def cancel(self, key: int) -> None:
        self._due.pop(key, None)

    def expiry(self, when: float) -> Expiry:
        """``async with``: the block is cancelled at ``when`` and raises ``TimeoutError``
        (as ``asyncio.timeout_at``, on this clock)."""
        return Expiry(self, when)

    def _tick(self) -> None:
        now = time.monotonic()
        due = [key for key, (when, _) in self._due.items() if when <= now]
        for key in due:
            _, callback = self._due.pop(key)
            try:
                callback()
            except Exception:
                log.exception("a timer's callback failed")
        self._ticking = (
            asyncio.get_running_loop().call_later(self.tick_s, self._tick) if self._due else None
        )


class Expiry:
    """The block of ``CoarseTimers.expiry``. A cancellation it did not cause (a shutdown,
    a lost lease) goes through as it came."""

    __slots__ = ("_cancelling", "_expired", "_key", "_task", "_timers", "_when")

    def __init__(self, timers: CoarseTimers, when: float) -> None:
        self._timers = timers
        self._when = when
        self._expired = False
        self._key = -1
        self._cancelling = 0
        self._task: asyncio.Task[object] | None = None

    async def __aenter__(self) -> Expiry:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("an expiry needs a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._key = self._timers.add(self._when, self._expire)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timers.cancel(self._key)
        if not self._expired or self._task is None:
            return
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def _expire(self) -> None:
        if self._task is not None and not self._task.done():
            self._expired = True
            self._task.cancel()
