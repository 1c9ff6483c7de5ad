"""G3 no loss, G4 no unflagged duplicates and G8 liveness while processes and Redis die."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest

from tests.guarantees.cluster import Cluster, Sink, run_intervals, send

pytestmark = pytest.mark.slow


async def drive(cluster: Cluster, conversations: int, per: int, chaos) -> dict[str, list[str]]:
    """Send ``per`` messages in each conversation while ``chaos()`` runs; return what was accepted."""
    accepted: dict[str, list[str]] = {f"c{c}": [] for c in range(conversations)}

    async def conversation(client: httpx.AsyncClient, conv: str) -> None:
        for i in range(per):
            text = f"{conv}-m{i}"
            r = await send(client, cluster.ingest, conv, text, f"{conv}:{i}", deadline_s=90)
            assert r.status_code == 202, r.text
            accepted[conv].append(text)
            await asyncio.sleep(random.uniform(0.01, 0.08))

    async with httpx.AsyncClient() as client:
        senders = asyncio.gather(*(conversation(client, c) for c in accepted))
        await asyncio.gather(senders, chaos(senders))
    return accepted


def check_delivered(sink: Sink, accepted: dict[str, list[str]]) -> None:
    """Everything accepted was answered, in order, and nothing twice unless flagged."""
    by_conv = sink.by_conversation()
    for conv, texts in accepted.items():
        plain = [t for d in by_conv[conv] if not d.possible_duplicate for t in d.echoed]
        assert len(plain) == len(set(plain)), f"{conv}: an unflagged duplicate reply"
        first_seen = list(dict.fromkeys(t for d in by_conv[conv] for t in d.echoed))
        assert first_seen == texts, f"{conv}: lost or reordered"


async def test_sigkill_any_service_under_load_loses_nothing(make_cluster, sink):
    cluster = make_cluster(CLAWBUS_ECHO_DELAY_S="0.05")
    await cluster.start(ingest=1, router=2, worker=3, delivery=2)
    kills: list[str] = []

    async def chaos(senders: asyncio.Future) -> None:
        # one of each first, then at random; a killed process is started again at once
        for name in [
            "worker",
            "router",
            "delivery",
            *random.choices(["worker", "router", "delivery"], k=5),
        ]:
            await asyncio.sleep(random.uniform(0.2, 0.6))
            proc = random.choice(cluster.procs[name])
            proc.kill()
            proc.start()
            kills.append(name)
        await cluster.ready()

    accepted = await drive(cluster, conversations=16, per=12, chaos=chaos)
    total = sum(len(v) for v in accepted.values())
    await sink.wait_for(lambda: len(set(sink.echoed_texts())) >= total, timeout=120)
    check_delivered(sink, accepted)
    assert len(kills) == 8


@pytest.mark.parametrize("appendfsync", ["always", "everysec"])
async def test_redis_restart_under_load_loses_nothing_acknowledged(
    make_cluster, sink, tmp_path, appendfsync
):
    from clawbus.embedded import EmbeddedRedis

    redis = EmbeddedRedis(tmp_path / "own-redis", appendfsync=appendfsync)
    redis.start()
    try:
        cluster = make_cluster(redis.url, CLAWBUS_ECHO_DELAY_S="0.02")
        await cluster.start(ingest=1, router=1, worker=2, delivery=1)

        async def chaos(senders: asyncio.Future) -> None:
            await asyncio.sleep(1.5)
            redis.kill()  # a crash: SIGKILL, AOF replayed on start
            await asyncio.sleep(1.0)
            redis.start()

        accepted = await drive(cluster, conversations=10, per=10, chaos=chaos)
        total = sum(len(v) for v in accepted.values())
        await sink.wait_for(lambda: len(set(sink.echoed_texts())) >= total, timeout=120)
        check_delivered(sink, accepted)
    finally:
        redis.stop()


async def test_a_dead_holders_lane_resumes_within_the_lease_ttl(make_cluster, sink):
    cluster = make_cluster(CLAWBUS_LEASE_TTL_S="2")
    await cluster.start(ingest=1, router=1, delivery=1)
    slow = cluster.add("worker", CLAWBUS_ECHO_DELAY_S="30")
    await slow.wait_ready_async(60)
    async with httpx.AsyncClient() as client:
        assert (await send(client, cluster.ingest, "g8", "hello", "g8:1")).status_code == 202
    while not any(x.get("event") == "run started" for x in slow.logs()):
        await asyncio.sleep(0.05)
    slow.kill()
    killed_ns = time.time_ns()
    fast = cluster.add("worker", CLAWBUS_ECHO_DELAY_S="0")
    await fast.wait_ready_async(60)
    await sink.wait_for(lambda: "hello" in sink.echoed_texts(), timeout=30)
    [(start, _)] = run_intervals(fast.logs())["assistant|http:g8"]
    # the lease (2 s) had to lapse; a poll interval and process start-up come on top
    assert (start - killed_ns) / 1e9 < 2 + 3


async def test_a_stuck_run_is_cut_and_its_lane_freed(make_cluster, sink):
    cluster = make_cluster(CLAWBUS_AGENT_RUN_TIMEOUT_S="1", CLAWBUS_ECHO_DELAY_S="20")
    await cluster.start(ingest=1, router=1, worker=1, delivery=1)
    async with httpx.AsyncClient() as client:
        await send(client, cluster.ingest, "stuck", "first", "stuck:1")
        await sink.wait_for(lambda: len(sink.received) >= 1, timeout=30)
        assert "took too long" in sink.received[0].text
        await send(client, cluster.ingest, "stuck", "second", "stuck:2")
        await sink.wait_for(lambda: len(sink.received) >= 2, timeout=30)
    assert "took too long" in sink.received[1].text  # processed, not stuck behind the first
