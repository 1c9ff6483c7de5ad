"""G5 the global cap, G6 poison to dead letters and back, G7 backpressure."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from redis.asyncio import Redis

from common.keys import Keys
from tests.guarantees.cluster import TOKEN, cli, run_intervals, send

pytestmark = pytest.mark.slow


def max_overlap(intervals: list[tuple[int, int]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = level = 0
    for _, step in events:
        level += step
        best = max(best, level)
    return best


async def test_agent_runs_never_exceed_the_global_cap(make_cluster, sink, redis_server, namespace):
    cap = 2
    cluster = make_cluster(
        CLAWBUS_AGENT_MAX_CONCURRENCY=str(cap),
        CLAWBUS_WORKER_CONCURRENCY="2",
        CLAWBUS_ECHO_DELAY_S="0.3",
    )
    await cluster.start(ingest=1, router=1, worker=4, delivery=1)
    redis = Redis.from_url(redis_server.url)
    slots_key = Keys(namespace, 4).agent_slots
    seen_slots: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen_slots.append(await redis.zcard(slots_key))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    async with httpx.AsyncClient() as client:
        await asyncio.gather(
            *(send(client, cluster.ingest, f"s{i}", f"s{i}-hi", f"s{i}:1") for i in range(12))
        )
    await sink.wait_for(lambda: len(sink.echoed_texts()) >= 12, timeout=60)
    done.set()
    await watcher
    await redis.aclose()
    runs = [iv for ivs in run_intervals(cluster.logs("worker")).values() for iv in ivs]
    assert len(runs) == 12
    assert max_overlap(runs) == cap  # reached, never passed, with 8 local slots available
    assert max(seen_slots) <= cap


async def test_poison_reaches_dead_letters_and_replays(make_cluster, sink):
    cluster = make_cluster(CLAWBUS_MAX_ATTEMPTS="3")
    sink.behaviour = lambda body: 500 if "poison" in body["text"] else 200
    await cluster.start(ingest=1, router=1, worker=1, delivery=1)
    async with httpx.AsyncClient() as client:
        await send(client, cluster.ingest, "p", "poison pill", "p:1")
        await sink.wait_for(lambda: any("poison" in t for t in sink.attempts), timeout=60)
        await send(client, cluster.ingest, "p", "after it", "p:2")
        await sink.wait_for(lambda: "after it" in sink.echoed_texts(), timeout=60)
    env = dict(cluster.env)
    listing = cli(env, "dlq", "list")
    assert "deliver" in listing and "attempts=3" in listing and "500" in listing
    assert "poison pill" not in sink.echoed_texts()
    assert sum("poison" in t for t in sink.attempts) == 3  # tried 3 times, "after it" waited
    sink.behaviour = lambda body: 200
    assert "replayed" in cli(env, "dlq", "replay", "deliver")
    await sink.wait_for(lambda: "poison pill" in sink.echoed_texts(), timeout=60)
    assert "no dead letters" in cli(env, "dlq", "list")


async def test_flooding_ingest_is_refused_with_retry_after_and_nothing_is_lost(make_cluster, sink):
    cluster = make_cluster(CLAWBUS_BACKLOG_LIMIT="40")
    await cluster.start(ingest=1, router=1)  # no worker yet: the agent backlog piles up

    def body(i: int) -> dict[str, object]:
        return {
            "conversation_id": f"f{i % 10}",
            "sender": {"id": "u"},
            "text": f"flood-{i}",
            "message_id": f"f{i}",
        }

    async with httpx.AsyncClient() as client:

        async def post(i: int) -> httpx.Response:
            return await client.post(
                f"{cluster.ingest}/v1/messages",
                json=body(i),
                headers={"authorization": f"Bearer {TOKEN}"},
                timeout=10,
            )

        responses = []
        for wave in range(6):
            responses += await asyncio.gather(*(post(wave * 50 + i) for i in range(50)))
            await asyncio.sleep(0.3)
    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 429]
    assert len(accepted) + len(refused) == len(responses)
    assert refused and all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert len(accepted) < 100  # bounded near the limit, not all 300
    cluster.add("worker")
    cluster.add("delivery")
    await cluster.ready()
    texts = {r.request.content for r in accepted}
    await sink.wait_for(lambda: len(sink.echoed_texts()) >= len(texts), timeout=90)
    assert sorted(sink.echoed_texts()) == sorted(json.loads(t)["text"] for t in texts)
