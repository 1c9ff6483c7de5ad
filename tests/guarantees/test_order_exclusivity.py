"""G1 order and G2 exclusivity across several worker, router and delivery processes."""

from __future__ import annotations

import asyncio
import itertools
import random

import httpx
import pytest

from tests.guarantees.cluster import run_intervals, send

pytestmark = pytest.mark.slow

CONVERSATIONS = 24
PER_CONVERSATION = 8


async def test_replies_keep_order_and_runs_of_a_session_never_overlap(make_cluster, sink):
    cluster = make_cluster()
    cluster.add("ingest")
    for _ in range(2):
        cluster.add("router")
        cluster.add("delivery")
    for delay in ("0.005", "0.03", "0.08"):  # uneven workers: the fast one would overtake
        cluster.add("worker", CLAWBUS_ECHO_DELAY_S=delay, CLAWBUS_WORKER_CONCURRENCY="4")
    await cluster.ready()
    sent: dict[str, list[str]] = {f"conv{c}": [] for c in range(CONVERSATIONS)}

    async def conversation(client: httpx.AsyncClient, conv: str) -> None:
        for i in range(PER_CONVERSATION):
            text = f"{conv}-m{i}"
            r = await send(client, cluster.ingest, conv, text, f"{conv}:{i}")
            assert r.status_code == 202, r.text
            sent[conv].append(text)
            await asyncio.sleep(random.uniform(0, 0.05))

    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(conversation(client, c) for c in sent))
    total = CONVERSATIONS * PER_CONVERSATION
    await sink.wait_for(lambda: len(sink.echoed_texts()) >= total, timeout=90)

    replies = sink.by_conversation()
    for conv, texts in sent.items():
        echoed = [t for d in replies[conv] for t in d.echoed]
        assert echoed == texts, f"{conv} out of order or duplicated"
    assert sink.bad_signatures == 0

    intervals = run_intervals(cluster.logs("worker"))
    assert len(intervals) == CONVERSATIONS
    pids = {line["pid"] for line in cluster.logs("worker") if line.get("event") == "run started"}
    assert len(pids) == 3, "every worker process should have taken part"
    for session, runs in intervals.items():
        runs.sort()
        for (_, end), (start, _) in itertools.pairwise(runs):
            assert start >= end, f"two runs of {session} overlapped"
