"""Long-lived platform connections run only on the replica holding the bot's lease."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from common.context import Context
from common.leases import Lease, run_as_leader
from common.retry import Backoff

log = logging.getLogger("clawbus.ingest.leader")

Work = Callable[[], Coroutine[Any, Any, None]]
BACKOFF = Backoff(1.0, 60.0)
Runner = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


async def keep_running(name: str, work: Work, backoff: Backoff = BACKOFF) -> None:
    """Run ``work`` again whenever it ends or fails: a dropped connection never ends ingest."""
    failures = 0
    while True:
        started = time.monotonic()
        try:
            await work()
            log.warning("connection ended; reconnecting", extra={"connection": name})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("connection failed", extra={"connection": name, "error": repr(exc)})
        failures = 1 if time.monotonic() - started > backoff.max_s else failures + 1
        await asyncio.sleep(backoff.delay(failures))


def leader_runner(ctx: Context, name: str, work: Work, *, ttl_s: float) -> Runner:
    """A runner that keeps ``work`` going while this replica leads ``name`` (``slack:<bot>``)."""

    def changed(leading: bool) -> None:
        log.info("leadership changed", extra={"connection": name, "leading": leading})

    async def run(stop: asyncio.Event) -> None:
        lease = Lease(ctx.redis, ctx.keys.leader(name), ttl_s)
        await run_as_leader(lease, lambda: keep_running(name, work), stop, on_change=changed)

    return run
