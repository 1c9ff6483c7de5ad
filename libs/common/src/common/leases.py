"""A named lease (``SET NX PX`` + token): one leader among replicas, e.g. per bot connection."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.bus import scripts


class Lease:
    def __init__(self, redis: Redis, key: str, ttl_s: float) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.token = uuid.uuid4().hex
        self._acquire = redis.register_script(scripts.LEASE_ACQUIRE)
        self._release = redis.register_script(scripts.LEASE_RELEASE)

    async def acquire(self) -> bool:
        """Take or extend the lease; False if another holder has it."""
        return bool(await self._acquire(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.token])


async def run_as_leader(
    lease: Lease,
    work: Callable[[], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    *,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Run ``work`` only while holding ``lease``; another replica takes over within its TTL.

    ``work`` is cancelled the moment a renewal fails, and restarted if the lease comes back.
    """
    interval = lease.ttl_ms / 3000
    task: asyncio.Task[None] | None = None
    try:
        while not stop.is_set():
            try:
                held = await lease.acquire()
            except RedisError:
                held = False
            if held and (task is None or task.done()):
                task = asyncio.create_task(work())
                if on_change:
                    on_change(True)
            elif not held and task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                task = None
                if on_change:
                    on_change(False)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(RedisError):
            await lease.release()
