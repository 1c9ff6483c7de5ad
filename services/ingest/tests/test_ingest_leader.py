# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Long-lived connections under a leader lease: never two at once, and a dead leader's
connection is taken over within the lease TTL (real Redis, real ingest processes)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from common.context import Context
from common.keys import Stage
from common.settings import Settings
from ingest.channels.leader import leader_runner
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.support import DEFAULT_CONFIG_FILE
from tests.support.ingest_app import published
from tests.support.processes import ServiceProcess


async def test_two_runners_never_hold_one_connection_at_once(redis_server, namespace):
    settings = Settings(redis_url=redis_server.url, namespace=namespace)
    running: list[str] = []
    overlap = False

    def work(name: str):
        async def connection() -> None:
            nonlocal overlap
            overlap = overlap or bool(running)
            running.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)

        return connection

    contexts = [Context.create(settings), Context.create(settings)]
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = [
        asyncio.create_task(leader_runner(ctx, "telegram:1", work(n), ttl_s=1.0)(stop))
        for ctx, n, stop in zip(contexts, "ab", stops, strict=True)
    ]
    await asyncio.sleep(2.0)
    assert len(running) == 1
    leader = running[0]
    index = "ab".index(leader)
    stops[index].set()
    await tasks[index]
    started = time.monotonic()
    while running != ["ba"[index]] and time.monotonic() - started < 3:
        await asyncio.sleep(0.05)
    assert running == ["ba"[index]]
    stops[1 - index].set()
    await tasks[1 - index]
    assert not overlap
    for ctx in contexts:
        await ctx.aclose()


def ingest_env(redis_url: str, namespace: str, api_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CLAWBUS_REDIS_URL": redis_url,
        "CLAWBUS_NAMESPACE": namespace,
        "CLAWBUS_CONFIG_PATH": DEFAULT_CONFIG_FILE,
        "CLAWBUS_LOG_JSON": "true",
        "CLAWBUS_TELEGRAM_BOT_TOKEN": TOKEN,
        "CLAWBUS_TELEGRAM_API_URL": api_url,
        "CLAWBUS_TELEGRAM_POLL_TIMEOUT_S": "1",
        "CLAWBUS_CHANNEL_LEADER_TTL_S": "2",
    }


def leading(proc: ServiceProcess) -> bool:
    changes = [e for e in proc.logs() if e.get("event") == "leadership changed"]
    return bool(changes) and changes[-1].get("leading") is True


async def wait_for(check, timeout: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@pytest.mark.slow
async def test_a_killed_leader_is_replaced_within_the_lease_ttl(redis_server, namespace, bus):
    async with FakeTelegram() as fake:
        env = ingest_env(redis_server.url, namespace, fake.base)
        procs = [ServiceProcess("ingest", env).start(), ServiceProcess("ingest", env).start()]
        try:
            for proc in procs:
                await proc.wait_ready_async(30)
            await wait_for(lambda: any(leading(p) for p in procs), 10)
            leader = next(p for p in procs if leading(p))
            standby = next(p for p in procs if p is not leader)
            fake.add_update(
                message={
                    "message_id": 1,
                    "from": {"id": 7, "first_name": "A"},
                    "chat": {"id": 7, "type": "private"},
                    "date": 1,
                    "text": "one",
                }
            )
            await wait_for(lambda: len(fake.called("getUpdates")) > 0, 10)
            for _ in range(100):
                if (await bus.stats(Stage.ROUTE)).backlog >= 1:
                    break
                await asyncio.sleep(0.05)
            assert not leading(standby)
            leader.kill()
            fake.add_update(
                message={
                    "message_id": 2,
                    "from": {"id": 7, "first_name": "A"},
                    "chat": {"id": 7, "type": "private"},
                    "date": 2,
                    "text": "two",
                }
            )
            took = await wait_for(lambda: leading(standby), 10)
            assert took < 2 + 2, f"takeover took {took:.1f}s with a 2s lease"
            for _ in range(200):
                if (await bus.stats(Stage.ROUTE)).backlog >= 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # room for a wrongly repeated update to show up
        finally:
            for proc in procs:
                proc.terminate(10)
        texts = [m.text for m in await published(bus)]
    assert texts == ["one", "two"]
