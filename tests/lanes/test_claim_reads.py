"""A claim that reads the state its lanes need, in its own round trip, and says which
entries were handed over before."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from common.bus import LaneBus, StateReads
from common.envelope import Envelope
from common.keys import Keys, Stage


def env(i: int) -> Envelope:
    return Envelope(id=f"m{i}", kind="test", trace_id="t", accepted_ms=0, payload={"i": i})


def reads_of(keys: Keys) -> StateReads:
    return StateReads(f"{keys.ns}:list:", f"{keys.ns}:value:", f"{keys.ns}:table")


async def test_each_lane_comes_with_its_list_its_owners_value_and_the_table(
    bus: LaneBus, redis: Redis, keys: Keys
):
    reads = reads_of(keys)
    await redis.rpush(reads.list_prefix + "alice|web:1", b"t1", b"t2")
    await redis.set(reads.value_prefix + "alice", b"alice's value")
    await redis.set(reads.value_prefix + "solo", b"solo's value")
    await redis.hset(reads.hash_key, mapping={b"a": b"1", b"b": b"2"})
    await bus.publish(
        Stage.AGENT,
        [("alice|web:1", env(1)), ("alice|web:1", env(2)), ("bob|web:2", env(3)), ("solo", env(4))],
    )

    lanes = {lane.lane: lane for lane in await bus.claim(Stage.AGENT, 10, 10, reads=reads)}

    assert set(lanes) == {"alice|web:1", "bob|web:2", "solo"}
    alice, bob, solo = lanes["alice|web:1"], lanes["bob|web:2"], lanes["solo"]
    assert alice.state is not None and bob.state is not None and solo.state is not None
    assert alice.state.items == [b"t1", b"t2"] and alice.state.value == b"alice's value"
    assert bob.state.items == [] and bob.state.value is None  # nothing stored for bob
    assert solo.state.items == [] and solo.state.value == b"solo's value"
    for lane in (alice, bob, solo):
        assert lane.state is not None and lane.state.table == {b"a": b"1", b"b": b"2"}
        assert not lane.redelivered


async def test_a_claim_without_reads_reads_nothing(bus: LaneBus, redis: Redis, keys: Keys):
    await redis.rpush(reads_of(keys).list_prefix + "s", b"t1")
    await bus.publish(Stage.AGENT, [("s", env(1))])
    [lane] = await bus.claim(Stage.AGENT, 1, 10)
    assert lane.state is None


async def test_the_state_is_read_as_it_stands_at_the_claim(bus: LaneBus, redis: Redis, keys: Keys):
    reads = reads_of(keys)
    await bus.publish(Stage.AGENT, [("s", env(1))])
    [first] = await bus.claim(Stage.AGENT, 1, 10, reads=reads)
    assert first.state is not None and first.state.items == [] and first.state.table == {}
    await redis.rpush(reads.list_prefix + "s", b"turn 1")  # what the first run wrote
    await bus.finish(first, [e.id for e in first.entries])

    await bus.publish(Stage.AGENT, [("s", env(2))])
    [second] = await bus.claim(Stage.AGENT, 1, 10, reads=reads)
    assert second.state is not None and second.state.items == [b"turn 1"]


async def test_entries_handed_over_again_are_marked_redelivered(bus: LaneBus, keys: Keys):
    reads = reads_of(keys)
    await bus.publish(Stage.AGENT, [("s", env(1))])
    [fresh] = await bus.claim(Stage.AGENT, 1, 10, reads=reads)
    assert not fresh.redelivered
    await bus.handback(fresh)  # a holder that stopped without finishing them

    [again] = await bus.claim(Stage.AGENT, 1, 10, reads=reads)
    assert again.redelivered and [e.envelope.id for e in again.entries if e.envelope] == ["m1"]
    await bus.finish(again, [e.id for e in again.entries])

    await bus.publish(Stage.AGENT, [("s", env(2))])
    [later] = await bus.claim(Stage.AGENT, 1, 10)
    assert not later.redelivered


async def test_a_dead_holders_entries_are_redelivered(redis: Redis, keys: Keys):
    bus = LaneBus(redis, keys, lease_ttl_s=0.2)
    await bus.publish(Stage.AGENT, [("s", env(1))])
    [held] = await bus.claim(Stage.AGENT, 1, 10)
    assert not held.redelivered
    # the holder dies: its lease expires and the next claim takes the lane over
    again = []
    for _ in range(100):
        again = await bus.claim(Stage.AGENT, 1, 10, reads=reads_of(keys))
        if again:
            break
        await asyncio.sleep(0.05)
    [lane] = again
    assert lane.redelivered and lane.state is not None


async def test_a_list_the_claimer_wrote_last_comes_as_its_length(
    bus: LaneBus, redis: Redis, keys: Keys
):
    base = reads_of(keys)
    writers = f"{keys.ns}:writers"
    mine = StateReads(base.list_prefix, base.value_prefix, base.hash_key, writers, "w1")
    await redis.rpush(base.list_prefix + "a|1", b"t1", b"t2")
    await redis.rpush(base.list_prefix + "b|2", b"u1")
    await redis.hset(writers, mapping={"a|1": "w1", "b|2": "w2"})  # b was written by another
    await bus.publish(Stage.AGENT, [("a|1", env(1)), ("b|2", env(2)), ("c|3", env(3))])

    lanes = {lane.lane: lane for lane in await bus.claim(Stage.AGENT, 10, 10, reads=mine)}

    a, b, c = (lanes[k].state for k in ("a|1", "b|2", "c|3"))
    assert a is not None and a.items is None and a.length == 2
    assert b is not None and b.items == [b"u1"] and b.length == 1
    assert c is not None and c.items == [] and c.length == 0
