"""No lane script takes or hands over more than ``SCRIPT_STRINGS`` entries at a time.

Redis serves nobody else while a script runs, and on Redis 6.2 a call with thousands of
envelopes alike ran for seconds (its Lua hashes a long string by a sample of its
characters, so such strings share a chain). A large publish is split into calls, a claim
stops taking lanes at the bound and says that ready lanes were left, and a consumer claims
those at once.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from common.bus import ClaimedLane, Entry, LaneBus, StateReads
from common.bus.lanes import SCRIPT_STRINGS
from common.bus.writer import Emit
from common.consumer import ConsumerOptions, LaneConsumer
from common.envelope import Envelope
from common.keys import Keys, Stage
from common.retry import Backoff

PAD = "x" * 600  # envelopes alike but for their ids


@pytest.fixture
def keys(namespace: str) -> Keys:
    """One partition: the bound is per script call, and a partition's lanes share one."""
    return Keys(namespace, 1)


def env(i: int | str) -> Envelope:
    return Envelope(id=f"m{i}", kind="test", trace_id="t", accepted_ms=0, payload={"p": PAD})


async def script_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("eval", "evalsha")
    )


async def test_a_publish_larger_than_a_call_lands_whole_in_order_with_its_duplicates_found(
    bus: LaneBus, redis: Redis
):
    n = 2 * SCRIPT_STRINGS + 10
    await bus.publish(Stage.ROUTE, [("a", env(SCRIPT_STRINGS + 1))])  # seen before
    items = [("a" if i % 2 else "b", env(i)) for i in range(n)]
    items.append(("a", env(1)))  # in the first call too: a duplicate across calls
    items.append(("b", env(3)))  # in the first call on "a" only: new on "b"
    await redis.config_resetstat()

    dups = await bus.publish(Stage.ROUTE, items)

    assert await script_calls(redis) == 3  # split, not one call of every entry
    assert dups == [i == SCRIPT_STRINGS + 1 for i in range(n)] + [True, False]
    lanes = {}
    while claim := await bus.claim(Stage.ROUTE, 10, 10 * n):  # one lane fills a claim
        lanes |= {lane.lane: lane for lane in claim}
    got_a = [e.envelope.id for e in lanes["a"].entries if e.envelope]
    got_b = [e.envelope.id for e in lanes["b"].entries if e.envelope]
    assert got_a == [f"m{SCRIPT_STRINGS + 1}"] + [
        f"m{i}" for i in range(1, n, 2) if i != SCRIPT_STRINGS + 1
    ]
    assert got_b == [f"m{i}" for i in range(0, n, 2)] + ["m3"]


async def test_a_claim_stops_at_the_bound_and_says_ready_lanes_were_left(bus: LaneBus):
    lanes = SCRIPT_STRINGS // 10 + 5
    await bus.publish(
        Stage.ROUTE, [(f"c{i}", env(f"{i}-{j}")) for j in range(10) for i in range(lanes)]
    )

    first = await bus.claim_and(Stage.ROUTE, 1000, 10)
    taken = sum(len(lane.entries) for lane in first.lanes)
    assert SCRIPT_STRINGS <= taken < SCRIPT_STRINGS + 10  # stops after the lane reaching it
    assert first.more

    rest = await bus.claim_and(Stage.ROUTE, 1000, 10)
    assert not rest.more
    names = [lane.lane for lane in first.lanes + rest.lanes]
    assert sorted(names) == sorted(f"c{i}" for i in range(lanes))  # each lane once
    assert all(len(lane.entries) == 10 for lane in first.lanes + rest.lanes)


async def test_a_claim_looks_at_no_more_ready_lanes_than_the_bound_lets_it_take(
    bus: LaneBus, redis: Redis, keys: Keys
):
    lanes = SCRIPT_STRINGS + 40  # an entry each
    await bus.publish(Stage.ROUTE, [(f"c{i}", env(i)) for i in range(lanes)])

    first = await bus.claim_and(Stage.ROUTE, 1000, 10)
    assert len(first.lanes) == SCRIPT_STRINGS and first.more
    ready = keys.partition(Stage.ROUTE, 0).ready
    assert await redis.zcard(ready) == 40  # the names it did not read are still ready
    rest = await bus.claim_and(Stage.ROUTE, 1000, 10)
    assert len(rest.lanes) == 40 and not rest.more
    names = {lane.lane for lane in first.lanes + rest.lanes}
    assert names == {f"c{i}" for i in range(lanes)}


async def test_list_items_a_claim_reads_count_toward_the_bound(
    bus: LaneBus, redis: Redis, keys: Keys
):
    reads = StateReads(f"{keys.ns}:list:", f"{keys.ns}:value:", f"{keys.ns}:table")
    await redis.rpush(reads.list_prefix + "long", *[PAD] * SCRIPT_STRINGS)
    await bus.publish(Stage.AGENT, [("long", env(1))])
    await bus.publish(Stage.AGENT, [("short", env(2))])

    first = await bus.claim_and(Stage.AGENT, 10, 10, reads=reads)
    assert [lane.lane for lane in first.lanes] == ["long"] and first.more
    state = first.lanes[0].state
    assert state is not None and state.length == SCRIPT_STRINGS
    second = await bus.claim_and(Stage.AGENT, 10, 10, reads=reads)
    assert [lane.lane for lane in second.lanes] == ["short"] and not second.more


async def test_a_consumer_claims_the_lanes_a_bounded_claim_left_at_once(bus: LaneBus):
    """The poll interval is far longer than the test may take (and than the test client's
    reply timeout, which would end a claim's wait by an error), and nothing is published
    once the consumer runs: lanes left by a claim are taken only if it says so."""
    lanes = 3 * (SCRIPT_STRINGS // 10)
    await bus.publish(
        Stage.ROUTE, [(f"c{i}", env(f"{i}-{j}")) for j in range(10) for i in range(lanes)]
    )
    handled = 0
    done = asyncio.Event()

    async def handler(lane: ClaimedLane, entries: list[Entry]) -> list[Emit]:
        nonlocal handled
        handled += len(entries)
        if handled == 10 * lanes:
            done.set()
        return []

    options = ConsumerOptions(
        concurrency=10 * lanes,  # room for every lane: only the bound splits the claims
        batch=10,
        poll_interval_s=60,
        grace_s=2,
        max_attempts=3,
        backoff=Backoff(0.05, 0.1),
    )
    consumer = LaneConsumer(bus, Stage.ROUTE, handler, options, mode="batch")
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(done.wait(), 8)
    finally:
        stop.set()
        await task
    assert handled == 10 * lanes
