"""Coarse timers: a run's timeout and typing delay without a loop timer each."""

from __future__ import annotations

import asyncio
import time

import pytest

from worker.timers import CoarseTimers


async def test_a_timer_fires_once_due_and_a_cancelled_one_never() -> None:
    timers = CoarseTimers(tick_s=0.02)
    fired: list[str] = []
    start = time.monotonic()
    timers.add(start + 0.05, lambda: fired.append("due"))
    gone = timers.add(start + 0.05, lambda: fired.append("cancelled"))
    timers.cancel(gone)
    timers.add(start + 30, lambda: fired.append("later"))
    while not fired:
        await asyncio.sleep(0.01)
    assert fired == ["due"]
    assert time.monotonic() - start >= 0.05
    await asyncio.sleep(0.1)
    assert fired == ["due"] and len(timers) == 1


async def test_ticking_stops_when_nothing_is_armed_and_starts_again() -> None:
    timers = CoarseTimers(tick_s=0.01)
    key = timers.add(time.monotonic() + 10, lambda: None)
    timers.cancel(key)
    await asyncio.sleep(0.05)
    assert timers._ticking is None  # the last tick found nothing armed
    fired = asyncio.Event()
    timers.add(time.monotonic(), fired.set)
    await asyncio.wait_for(fired.wait(), 1)


async def test_a_failing_callback_does_not_stop_the_others() -> None:
    timers = CoarseTimers(tick_s=0.01)
    fired = asyncio.Event()
    now = time.monotonic()
    timers.add(now, lambda: 1 / 0)
    timers.add(now, fired.set)
    await asyncio.wait_for(fired.wait(), 1)


async def test_an_expiry_turns_its_own_cancel_into_a_timeout() -> None:
    timers = CoarseTimers(tick_s=0.01)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with timers.expiry(started + 0.05):
            await asyncio.sleep(5)
    assert 0.05 <= time.monotonic() - started < 2
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # nothing left pending


async def test_an_expiry_lets_a_block_that_ends_in_time_go() -> None:
    timers = CoarseTimers(tick_s=0.01)
    async with timers.expiry(time.monotonic() + 0.2):
        await asyncio.sleep(0.01)
    assert len(timers) == 0
    await asyncio.sleep(0.3)  # its timer was disarmed: no cancel arrives later


async def test_a_cancel_from_outside_goes_through_an_expiry_as_a_cancel() -> None:
    timers = CoarseTimers(tick_s=0.01)
    entered = asyncio.Event()

    async def run() -> None:
        async with timers.expiry(time.monotonic() + 30):
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(run())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(timers) == 0
