"""The shared consumer loop: retries keep order, poison goes to dead letters, drain hands back."""

from __future__ import annotations

import asyncio
from collections import Counter

from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis
from common import wire as wires
from common.bus import ClaimedLane, Entry, LaneBus
from common.bus.writer import Emit
from common.consumer import CLAIMS_AHEAD, ConsumerOptions, LaneConsumer
from common.envelope import Envelope, decode
from common.errors import PermanentError, RetryableError
from common.keys import Keys, Stage
from common.retry import Backoff
from common.semaphore import Slots


def env(i: str) -> Envelope:
    return Envelope(id=i, kind="test", trace_id="t", accepted_ms=0, payload={})


def options(**kw) -> ConsumerOptions:
    base = dict(
        concurrency=8,
        batch=10,
        poll_interval_s=0.05,
        grace_s=2,
        max_attempts=3,
        backoff=Backoff(0.05, 0.1),
    )
    base.update(kw)
    return ConsumerOptions(**base)


async def run_until(consumer: LaneConsumer, done: asyncio.Event, within_s: float = 20) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(done.wait(), within_s)
    finally:
        stop.set()
        await task


async def test_a_failing_entry_is_retried_before_later_entries(bus: LaneBus):
    seen: list[str] = []
    failures = Counter[str]()
    done = asyncio.Event()

    async def handler(lane: ClaimedLane, entry: Entry) -> list[Emit]:
        eid = entry.envelope.id
        if eid == "b" and failures[eid] < 2:
            failures[eid] += 1
            raise RetryableError("flaky")
        seen.append(eid)
        if len(seen) == 4:
            done.set()
        return []

    await bus.publish(Stage.DELIVER, [("d", env(x)) for x in "abcd"])
    await run_until(LaneConsumer(bus, Stage.DELIVER, handler, options()), done)
    assert seen == ["a", "b", "c", "d"]
    assert failures["b"] == 2


async def test_poison_is_dead_lettered_and_the_lane_moves_on(bus: LaneBus):
    seen: list[str] = []
    done = asyncio.Event()

    async def handler(lane: ClaimedLane, entry: Entry) -> list[Emit]:
        if entry.envelope.id == "bad":
            raise ValueError("always fails")
        if entry.envelope.id == "perm":
            raise PermanentError("never valid")
        seen.append(entry.envelope.id)
        if entry.envelope.id == "last":
            done.set()
        return []

    await bus.publish(Stage.ROUTE, [("c", env(x)) for x in ("ok", "bad", "perm", "last")])
    await run_until(LaneConsumer(bus, Stage.ROUTE, handler, options()), done)
    assert seen == ["ok", "last"]
    letters = {decode(d.envelope).id: d for d in await bus.dead_letters(Stage.ROUTE)}
    assert letters["bad"].attempts == 3 and "always fails" in letters["bad"].error
    assert letters["perm"].attempts == 1 and "never valid" in letters["perm"].error


async def test_outputs_are_published_before_inputs_are_acked(bus: LaneBus):
    done = asyncio.Event()

    async def handler(lane: ClaimedLane, entries: list[Entry]) -> list[Emit]:
        done.set()
        return [Emit(Stage.DELIVER, "out", env("reply-" + e.envelope.id)) for e in entries]

    await bus.publish(Stage.AGENT, [("s", env("x")), ("s", env("y"))])
    await run_until(LaneConsumer(bus, Stage.AGENT, handler, options(), mode="batch"), done)
    [out] = await bus.claim(Stage.DELIVER, 1, 10)
    assert [e.envelope.id for e in out.entries] == ["reply-x", "reply-y"]
    assert (await bus.stats(Stage.AGENT)).backlog == 0


async def test_shutdown_hands_back_unfinished_lanes(redis: Redis, keys: Keys):
    bus = LaneBus(redis, keys, lease_ttl_s=30)
    started = asyncio.Event()

    async def slow(lane: ClaimedLane, entries: list[Entry]) -> list[Emit]:
        started.set()
        await asyncio.sleep(60)
        return []

    await bus.publish(Stage.AGENT, [("s", env("x"))])
    stop = asyncio.Event()
    consumer = LaneConsumer(bus, Stage.AGENT, slow, options(grace_s=0.2), mode="batch")
    task = asyncio.create_task(consumer.run(stop))
    await asyncio.wait_for(started.wait(), 10)
    stop.set()
    await asyncio.wait_for(task, 10)
    # handed back long before the 30 s lease would have expired, nothing charged
    [lane] = await bus.claim(Stage.AGENT, 1, 10)
    assert [e.envelope.id for e in lane.entries] == ["x"] and lane.entries[0].attempts == 0


async def test_capped_runs_give_their_slots_back_with_their_last_commit(
    redis: Redis, keys: Keys, bus: LaneBus
):
    slots = Slots(redis, keys.agent_slots, cap=2, ttl_s=30)
    released_alone: list[list[str]] = []
    release = slots.release

    async def spy(ids: list[str]) -> None:  # the fallback path, when no commit carried it
        if ids:
            released_alone.append(ids)
        await release(ids)

    slots.release = spy  # type: ignore[method-assign]
    in_flight, most, handled = 0, 0, 0
    done = asyncio.Event()

    async def handler(lane: ClaimedLane, entries: list[Entry]) -> list[Emit]:
        nonlocal in_flight, most, handled
        in_flight += 1
        most = max(most, in_flight, await slots.in_use())
        await asyncio.sleep(0.02)
        in_flight -= 1
        handled += len(entries)
        if handled == 12:
            done.set()
        return []

    await bus.publish(Stage.AGENT, [(f"s{i}", env(f"e{i}")) for i in range(12)])
    consumer = LaneConsumer(bus, Stage.AGENT, handler, options(), mode="batch", slots=slots)
    await run_until(consumer, done)
    assert most <= 2
    assert await slots.in_use() == 0  # every slot went back
    assert released_alone == []  # each with its lane's final commit, no round trip of its own


async def test_claimed_lanes_come_with_their_slots_and_never_past_the_cap(
    redis: Redis, keys: Keys, bus: LaneBus
):
    """Bursts of three lanes to a sleeping consumer under a cap of two: every lane runs
    holding a slot its claim took, never more than two at once, and every slot goes back."""
    slots = Slots(redis, keys.agent_slots, cap=2, ttl_s=30)
    most, handled, in_flight = 0, 0, 0
    unslotted = 0
    done = asyncio.Event()

    async def handler(lane: ClaimedLane, entries: list[Entry]) -> list[Emit]:
        nonlocal most, handled, in_flight, unslotted
        in_flight += 1
        held = await slots.in_use()
        unslotted = max(unslotted, in_flight - held)
        most = max(most, in_flight, held)
        await asyncio.sleep(0.01)
        in_flight -= 1
        handled += len(entries)
        if handled == 12:
            done.set()
        return []

    async def bursts() -> None:
        for i in range(4):
            await asyncio.sleep(0.15)  # the consumer is asleep on the bell by now
            await bus.publish(Stage.AGENT, [(f"s{i}.{k}", env(f"t{i}.{k}")) for k in range(3)])

    consumer = LaneConsumer(
        bus, Stage.AGENT, handler, options(poll_interval_s=0.3), mode="batch", slots=slots
    )
    producer = asyncio.create_task(bursts())
    await run_until(consumer, done)
    await producer
    assert handled == 12 and most == 2
    assert unslotted == 0  # no lane ran without its slot
    assert await slots.in_use() == 0


async def test_a_consumer_full_to_its_concurrency_wakes_a_peer_for_the_lanes_it_left(
    redis: Redis, redis_server: EmbeddedRedis, keys: Keys, bus: LaneBus
):
    """Two replicas asleep on the bell, with a poll interval far longer than the test: one
    publish rings once, the replica it wakes takes what its concurrency allows and rings
    for the rest, and the other replica takes them."""
    # the replicas' client lets a claim wait the whole poll interval (the fixture's would
    # time the wait out first, and the claim that follows would find the lanes unrung)
    client = Redis.from_url(redis_server.url, socket_timeout=120)
    if wires.of(redis) is not None:
        wires.attach(client)
    held: dict[str, set[str]] = {"a": set(), "b": set()}
    both_full = asyncio.Event()
    let_go = asyncio.Event()

    def handler_of(name: str):
        async def handler(lane: ClaimedLane, entries: list[Entry]) -> list[Emit]:
            held[name].add(lane.lane)
            if len(held["a"]) == 2 and len(held["b"]) == 2:
                both_full.set()
            await let_go.wait()
            return []

        return handler

    stop = asyncio.Event()
    peers = [
        LaneConsumer(
            LaneBus(client, keys, lease_ttl_s=10),
            Stage.AGENT,
            handler_of(name),
            options(concurrency=2, poll_interval_s=60),
            mode="batch",
        )
        for name in ("a", "b")
    ]
    tasks = [asyncio.create_task(peer.run(stop)) for peer in peers]
    try:
        await asyncio.sleep(0.5)  # both asleep on the bell by now
        await bus.publish(Stage.AGENT, [(f"s{i}", env(f"e{i}")) for i in range(8)])
        await asyncio.wait_for(both_full.wait(), 10)
        assert not held["a"] & held["b"]
    finally:
        let_go.set()
        stop.set()
        await asyncio.gather(*tasks)
        await wires.detach(client)
        await client.aclose()


async def test_while_claims_come_back_full_the_next_is_sent_before_the_last_returns(
    bus: LaneBus,
):
    """A backlog larger than one claim's bound: the consumer keeps a second claim in
    flight instead of waiting a round trip between the work of one and the next, never
    more than ``CLAIMS_AHEAD``, and every lane's entries still arrive in order."""
    in_flight = most = 0
    claim_and = bus.claim_and

    async def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await claim_and(*args, **kwargs)
        finally:
            in_flight -= 1

    bus.claim_and = spy  # type: ignore[method-assign]
    seen: dict[str, list[int]] = {}
    done = asyncio.Event()

    async def handler(lane: ClaimedLane, entries: list[Entry]) -> list[Emit]:
        for entry in entries:
            seen.setdefault(lane.lane, []).append(int(entry.envelope.id.split("-")[1]))
        if sum(map(len, seen.values())) == 60 * 20:
            done.set()
        return []

    stop = asyncio.Event()
    consumer = LaneConsumer(
        bus, Stage.AGENT, handler, options(concurrency=1000, batch=20), mode="batch"
    )
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.sleep(0.3)  # asleep on the bell, one claim waiting
        most = in_flight
        # 1,200 entries, more than one claim takes (its bound is per partition)
        await bus.publish(
            Stage.AGENT, [(f"s{i}", env(f"{i}-{j}")) for i in range(60) for j in range(20)]
        )
        await asyncio.wait_for(done.wait(), 20)
    finally:
        stop.set()
        await task
    assert 2 <= most <= CLAIMS_AHEAD
    assert all(order == list(range(20)) for order in seen.values()) and len(seen) == 60
