"""The lane protocol against a real Redis: order, exclusivity, fencing, retry, dead letters."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis
from common import wire as wires
from common.bus import LaneBus
from common.bus.lanes import BELL_DEPTH
from common.envelope import Envelope, decode
from common.errors import Fenced
from common.keys import Keys, Stage
from common.semaphore import Slots


def env(i: int | str) -> Envelope:
    return Envelope(id=f"m{i}", kind="test", trace_id="t", accepted_ms=0, payload={"i": i})


def ids_of(lane) -> list[str]:  # entry ids of a claimed lane, as a finish takes them
    return [e.id for e in lane.entries]


def ids(lane) -> list[str]:  # envelope ids of a claimed lane, in order
    return [e.envelope.id for e in lane.entries]


async def test_entries_come_back_in_publish_order_and_duplicates_are_dropped(bus: LaneBus):
    dups = await bus.publish(Stage.ROUTE, [("c1", env(i)) for i in range(5)])
    assert dups == [False] * 5
    assert await bus.publish(Stage.ROUTE, [("c1", env(1)), ("c1", env(9))]) == [True, False]
    [lane] = await bus.claim(Stage.ROUTE, 10, 100)
    assert ids(lane) == ["m0", "m1", "m2", "m3", "m4", "m9"]


async def test_a_publish_marks_each_lane_once_and_counts_every_entry(
    bus: LaneBus, redis: Redis, keys: Keys
):
    await bus.publish(Stage.ROUTE, [("c2", env("old"))])
    [held] = await bus.claim(Stage.ROUTE, 1, 10)  # c2 is held: new entries must not re-arm it
    items = [("c1", env(1)), ("c2", env(2)), ("c1", env(3)), ("c1", env(1)), ("c2", env(4))]
    await redis.config_resetstat()
    assert await bus.publish(Stage.ROUTE, items) == [False, False, False, True, False]
    calls = {k: int(v["calls"]) for k, v in (await redis.info("commandstats")).items()}
    assert calls["cmdstat_xadd"] == 4
    # once per lane or per call, not per entry; no look at a lane's stream: its oldest
    # mark, set where there is none, says whether it has entries
    assert calls["cmdstat_zmscore"] == 2 and "cmdstat_xlen" not in calls
    # c1 is new: its stream and group made in one command, with no look at the key first
    made = sum(n for name, n in calls.items() if name.startswith("cmdstat_xgroup"))
    assert made == 1 and "cmdstat_exists" not in calls
    # the backlog is counted up once a call (a call per partition)
    assert calls["cmdstat_incrby"] == calls["cmdstat_eval"] and "cmdstat_incr" not in calls
    # seen ids of both lanes; both oldest marks (c2's, which it has already, changed
    # nothing); c1's ready mark (c2 has entries, and a holder)
    assert calls["cmdstat_zadd"] == 2 + 2 + 1
    assert calls["cmdstat_pexpire"] == 1  # c2's seen set has more than a window left
    stats = await bus.stats(Stage.ROUTE)
    assert (stats.backlog, stats.ready, stats.active) == (5, 1, 1)
    [lane] = await bus.claim(Stage.ROUTE, 10, 10)
    assert (lane.lane, ids(lane)) == ("c1", ["m1", "m3"])
    for name in ("c1", "c2"):
        seen = keys.lane_partition(Stage.ROUTE, name).seen_prefix + name
        assert 900_000 < await redis.pttl(seen) <= 1_800_000
    await bus.finish(held, [e.id for e in held.entries])  # re-armed: its new entries wait
    [again] = await bus.claim(Stage.ROUTE, 10, 10)
    assert (again.lane, ids(again)) == ("c2", ["m2", "m4"])


async def test_the_backlog_counts_unacked_entries_across_stages_and_partitions(bus: LaneBus):
    await bus.publish(Stage.ROUTE, [(f"c{i}", env(i)) for i in range(6)])
    await bus.publish(Stage.AGENT, [("s", env(9)), ("s", env(10))])
    assert await bus.backlog([Stage.ROUTE, Stage.AGENT]) == 8
    lanes = await bus.claim(Stage.ROUTE, 2, 10)
    await bus.finish_many([(lane, [e.id for e in lane.entries], True) for lane in lanes])
    assert await bus.backlog([Stage.ROUTE, Stage.AGENT]) == 6
    assert await bus.backlog([Stage.AGENT]) == (await bus.stats(Stage.AGENT)).backlog == 2


async def test_an_id_is_a_duplicate_for_the_window_and_the_seen_ids_stay_bounded(
    redis: Redis, keys: Keys
):
    bus = LaneBus(redis, keys, dedup_window_s=0.1)
    assert await bus.publish(Stage.ROUTE, [("c", env("x"))]) == [False]
    assert await bus.publish(Stage.ROUTE, [("c", env("x"))]) == [True]
    for i in range(120):  # a busy lane: its seen set never idles out
        await bus.publish(Stage.ROUTE, [("c", env(i))])
        await asyncio.sleep(0.005)
    assert await bus.publish(Stage.ROUTE, [("c", env("x"))]) == [False]  # the window passed
    seen = keys.lane_partition(Stage.ROUTE, "c").seen_prefix + "c"
    assert await redis.zcard(seen) < 80  # ids older than the window were dropped


async def test_a_lane_is_never_held_twice(bus: LaneBus):
    await bus.publish(Stage.AGENT, [(f"s{i}", env(i)) for i in range(40)])
    results = await asyncio.gather(*(bus.claim(Stage.AGENT, 7, 10) for _ in range(12)))
    claimed = [lane.lane for batch in results for lane in batch]
    assert sorted(claimed) == sorted(f"s{i}" for i in range(40))
    assert len(set(claimed)) == len(claimed)
    assert await bus.claim(Stage.AGENT, 10, 10) == []


async def test_a_held_lane_is_not_re_armed_by_new_entries(bus: LaneBus):
    await bus.publish(Stage.AGENT, [("s", env(1))])
    [held] = await bus.claim(Stage.AGENT, 1, 10)
    await bus.publish(Stage.AGENT, [("s", env(2))])
    assert await bus.claim(Stage.AGENT, 1, 10) == []
    assert await bus.finish(held, [e.id for e in held.entries]) is True  # re-armed on release
    [again] = await bus.claim(Stage.AGENT, 1, 10)
    assert ids(again) == ["m2"]


async def test_a_claim_reads_pending_entries_only_of_lanes_that_went_back_with_them(
    redis: Redis, namespace: str
):
    """A lane a publish made ready was never read: one read hands its entries over. A lane
    that went back (handed back, released with entries left) is read for its pending
    entries first. Expired leases are looked for once per scan interval, not per claim."""
    # one partition: a claim's calls then do not depend on where the lanes fall
    bus = LaneBus(redis, Keys(namespace, 1), lease_ttl_s=600, expiry_scan_s=60)

    async def claim_calls(want: int) -> tuple[list, dict[str, int]]:
        await redis.config_resetstat()
        lanes = await bus.claim(Stage.ROUTE, want, 1)
        stats = await redis.info("commandstats")
        return lanes, {k: int(v["calls"]) for k, v in stats.items()}

    await bus.publish(Stage.ROUTE, [("c", env(i)) for i in range(3)])
    [fresh], calls = await claim_calls(1)  # the first claim also looks for expired leases
    assert ids(fresh) == ["m0"] and not fresh.redelivered
    assert calls["cmdstat_xreadgroup"] == 1 and calls["cmdstat_zrangebyscore"] == 2
    await bus.handback(fresh)
    [again], calls = await claim_calls(1)
    assert ids(again) == ["m0"] and again.redelivered
    # the pending read found the entry; no look at expired leases within the interval
    assert calls["cmdstat_xreadgroup"] == 1 and calls["cmdstat_zrangebyscore"] == 1
    assert await bus.finish(again, ids_of(again)) is True  # released with m1, m2 left
    [rest], calls = await claim_calls(1)
    assert ids(rest) == ["m1"] and not rest.redelivered
    assert calls["cmdstat_xreadgroup"] == 2  # nothing pending, then the new entry
    await bus.finish(rest, ids_of(rest))
    await bus.publish(Stage.ROUTE, [("d", env(9))])
    lanes, calls = await claim_calls(2)
    assert sorted(ids(lane)[0] for lane in lanes) == ["m2", "m9"]
    assert calls["cmdstat_xreadgroup"] == 2 + 1  # c went back, d never did


async def test_a_dead_holder_is_fenced_and_its_entries_resume_first(redis: Redis, keys: Keys):
    bus = LaneBus(redis, keys, lease_ttl_s=0.3, max_attempts=5)
    await bus.publish(Stage.ROUTE, [("c", env(i)) for i in range(3)])
    [stale] = await bus.claim(Stage.ROUTE, 1, 2)
    assert ids(stale) == ["m0", "m1"]
    await bus.publish(Stage.ROUTE, [("c", env(3))])
    await asyncio.sleep(0.5)
    [fresh] = await bus.claim(Stage.ROUTE, 1, 10)
    # exactly what the dead holder had, nothing newer, and the head is charged an attempt
    assert ids(fresh) == ["m0", "m1"]
    assert [e.attempts for e in fresh.entries] == [1, 0]
    with pytest.raises(Fenced):
        await bus.finish(stale, [e.id for e in stale.entries])
    assert await bus.renew([stale, fresh]) == [stale]
    assert await bus.finish(fresh, [e.id for e in fresh.entries]) is True
    assert await redis.hlen(keys.partition(Stage.ROUTE, 0).attempts) == 0  # acked: cleared
    [rest] = await bus.claim(Stage.ROUTE, 1, 10)
    assert ids(rest) == ["m2", "m3"]


async def test_a_charged_entry_that_drains_its_lane_leaves_no_count(redis: Redis, keys: Keys):
    bus = LaneBus(redis, keys, lease_ttl_s=0.3, max_attempts=5)
    await bus.publish(Stage.ROUTE, [("c", env(1)), ("d", env(2))])
    assert len(await bus.claim(Stage.ROUTE, 2, 10)) == 2
    await asyncio.sleep(0.5)  # both holders dead
    taken = {lane.lane: lane for lane in await bus.claim(Stage.ROUTE, 2, 10)}
    assert [e.attempts for e in taken["c"].entries] == [1]

    async def counted(lane: str) -> bool:
        entry = taken[lane].entries[0].id
        return bool(
            await redis.hexists(keys.lane_partition(Stage.ROUTE, lane).attempts, f"{lane}|{entry}")
        )

    assert await counted("c") and await counted("d")
    assert await bus.finish(taken["c"], ids_of(taken["c"])) is False  # drained
    assert not await counted("c")
    assert await counted("d")  # d's count stays until d is done
    assert await bus.finish(taken["d"], ids_of(taken["d"])) is False
    assert not await counted("d")


async def test_failure_backs_the_whole_lane_off_then_dead_letters(redis: Redis, keys: Keys):
    bus = LaneBus(redis, keys, lease_ttl_s=5, max_attempts=3)
    await bus.publish(Stage.DELIVER, [("d", env("a")), ("d", env("b"))])
    for attempt in (1, 2):
        [lane] = await bus.claim(Stage.DELIVER, 1, 1)
        assert ids(lane) == ["ma"]
        dead, n = await bus.fail(lane, [lane.entries[0].id], "boom", delay_s=0.2)
        assert (dead, n) == (False, attempt)
        assert await bus.claim(Stage.DELIVER, 1, 1) == []  # backing off: nothing behind it runs
        await asyncio.sleep(0.25)
    [lane] = await bus.claim(Stage.DELIVER, 1, 1)
    assert await bus.fail(lane, [lane.entries[0].id], "boom", delay_s=5) == (True, 3)
    [letter] = await bus.dead_letters(Stage.DELIVER)
    assert letter.error == "boom" and letter.attempts == 3 and letter.lane == "d"
    assert decode(letter.envelope).id == "ma"
    [lane] = await bus.claim(Stage.DELIVER, 1, 5)  # released at once: the next entry flows
    assert ids(lane) == ["mb"]
    await bus.finish(lane, [e.id for e in lane.entries])
    assert await bus.replay(Stage.DELIVER, letter.partition, letter.id) == "d"
    [lane] = await bus.claim(Stage.DELIVER, 1, 5)
    assert ids(lane) == ["ma"] and lane.entries[0].attempts == 0
    assert await bus.dead_letters(Stage.DELIVER) == []


async def test_rate_limits_are_not_charged_as_attempts(redis: Redis, keys: Keys):
    bus = LaneBus(redis, keys, lease_ttl_s=5, max_attempts=2)
    await bus.publish(Stage.DELIVER, [("d", env(1))])
    for _ in range(4):
        [lane] = await bus.claim(Stage.DELIVER, 1, 1)
        assert await bus.fail(lane, [lane.entries[0].id], "429", delay_s=0, charge=False) == (
            False,
            0,
        )


async def test_handback_keeps_entries_and_charges_nothing(bus: LaneBus):
    await bus.publish(Stage.AGENT, [("s", env(1)), ("s", env(2))])
    [lane] = await bus.claim(Stage.AGENT, 1, 10)
    await bus.handback(lane)
    [again] = await bus.claim(Stage.AGENT, 1, 10)
    assert ids(again) == ["m1", "m2"]
    assert [e.attempts for e in again.entries] == [0, 0]


async def test_a_drained_lane_leaves_no_stream_behind(bus: LaneBus, redis: Redis, keys: Keys):
    await bus.publish(Stage.ROUTE, [("c", env(1))])
    [lane] = await bus.claim(Stage.ROUTE, 1, 10)
    stream = keys.lane_partition(Stage.ROUTE, "c").lane_stream("c")
    assert await redis.exists(stream)
    await redis.config_resetstat()
    await bus.finish(lane, [e.id for e in lane.entries])
    assert not await redis.exists(stream)
    calls = {k: int(v["calls"]) for k, v in (await redis.info("commandstats")).items()}
    assert "cmdstat_time" not in calls  # nothing on its path needs the clock
    assert "cmdstat_hlen" not in calls  # nor a look for attempt counts: none was charged
    stats = await bus.stats(Stage.ROUTE)
    assert (stats.backlog, stats.ready, stats.active) == (0, 0, 0)
    part = keys.lane_partition(Stage.ROUTE, "c")
    assert await redis.zscore(part.oldest, "c") is None
    assert await redis.hget(part.holders, "c") is None


async def test_a_lane_released_with_entries_left_keeps_them_however_its_ids_are_given(
    bus: LaneBus, redis: Redis, keys: Keys
):
    # A drained lane is deleted whole: only one that holds exactly the entries acked.
    await bus.publish(Stage.ROUTE, [("c", env(i)) for i in range(1, 4)])
    [lane] = await bus.claim(Stage.ROUTE, 1, 2)
    assert await bus.finish(lane, [e.id for e in lane.entries]) is True
    [lane] = await bus.claim(Stage.ROUTE, 1, 10)
    assert ids(lane) == ["m3"]
    await bus.publish(Stage.ROUTE, [("c", env(4))])  # arrives while the lane is held
    assert await bus.finish(lane, [e.id for e in lane.entries]) is True
    [lane] = await bus.claim(Stage.ROUTE, 1, 10)
    assert ids(lane) == ["m4"]
    await bus.publish(Stage.ROUTE, [("c", env(5))])
    # an id given twice counts once: as many ids as entries is not a drained lane here
    assert await bus.finish(lane, [lane.entries[0].id] * 2) is True
    [lane] = await bus.claim(Stage.ROUTE, 1, 10)
    assert ids(lane) == ["m5"]
    assert (await bus.stats(Stage.ROUTE)).backlog == 1
    assert await bus.finish(lane, [e.id for e in lane.entries]) is False
    assert not await redis.exists(keys.lane_partition(Stage.ROUTE, "c").lane_stream("c"))
    assert (await bus.stats(Stage.ROUTE)).backlog == 0


async def test_a_held_lane_emptied_takes_new_entries_without_being_made_ready(
    bus: LaneBus, redis: Redis, keys: Keys
):
    await bus.publish(Stage.ROUTE, [("c", env(1))])
    [lane] = await bus.claim(Stage.ROUTE, 1, 10)
    entry_ids = [e.id for e in lane.entries]
    assert await bus.finish(lane, entry_ids, release=False) is False  # acked, still held
    stream = keys.lane_partition(Stage.ROUTE, "c").lane_stream("c")
    assert await redis.exists(stream) and await redis.xlen(stream) == 0
    assert await bus.publish(Stage.ROUTE, [("c", env(2))]) == [False]
    stats = await bus.stats(Stage.ROUTE)
    assert (stats.backlog, stats.ready, stats.active) == (1, 0, 1)  # its holder has it
    assert await bus.claim(Stage.ROUTE, 1, 10) == []
    assert await bus.finish(lane, [], release=True) is True  # released: re-armed
    [again] = await bus.claim(Stage.ROUTE, 1, 10)
    assert ids(again) == ["m2"]


async def test_a_ready_lane_whose_stream_is_gone_is_passed_over_and_a_wrong_one_fails(
    bus: LaneBus, redis: Redis, keys: Keys
):
    await bus.publish(Stage.ROUTE, [("gone", env(1)), ("kept", env(2))])
    await redis.delete(keys.lane_partition(Stage.ROUTE, "gone").lane_stream("gone"))
    [lane] = await bus.claim(Stage.ROUTE, 10, 10)
    assert (lane.lane, ids(lane)) == ("kept", ["m2"])
    assert (await bus.stats(Stage.ROUTE)).ready == 0  # looked at, and no longer ready
    await bus.publish(Stage.ROUTE, [("odd", env(3))])
    await redis.delete(keys.lane_partition(Stage.ROUTE, "odd").lane_stream("odd"))
    await redis.set(keys.lane_partition(Stage.ROUTE, "odd").lane_stream("odd"), "x")
    with pytest.raises(Exception, match="WRONGTYPE"):
        await bus.claim(Stage.ROUTE, 10, 10)


async def test_malformed_entries_are_reported_not_lost(bus: LaneBus, redis: Redis, keys: Keys):
    await bus.publish(Stage.ROUTE, [("c", env(1))])
    part = keys.lane_partition(Stage.ROUTE, "c")
    await redis.xadd(part.lane_stream("c"), {"e": b"{not json"})
    [lane] = await bus.claim(Stage.ROUTE, 1, 10)
    assert lane.entries[0].envelope is not None
    assert lane.entries[1].envelope is None and "malformed" in (lane.entries[1].error or "")


async def test_slots_of_dead_holders_expire_and_renewed_ones_stay(
    bus: LaneBus, redis: Redis, keys: Keys
):
    """A slot not renewed within its lease is gone (its worker died) and its room is
    claimed again; a renewed one stays past its first lease; one given back makes room."""
    slots = Slots(redis, keys.agent_slots, cap=3, ttl_s=1.0)
    await bus.publish(Stage.AGENT, [(f"s{i}", env(i)) for i in range(8)])
    first = await bus.claim_and(Stage.AGENT, 5, 10, slots=slots.claim)
    assert len(first.slots) == 3 and await slots.in_use() == 3
    await asyncio.sleep(1.2)  # nobody renewed: the holders are gone
    assert await slots.in_use() == 0
    second = await bus.claim_and(Stage.AGENT, 5, 10, slots=slots.claim)
    assert len(second.slots) == 3
    await asyncio.sleep(0.6)
    assert await slots.renew(second.slots) == []
    await asyncio.sleep(0.6)  # past the claim's lease, within the renewal's
    assert await slots.in_use() == 3
    await slots.release(second.slots[:1])
    third = await bus.claim_and(Stage.AGENT, 5, 10, slots=slots.claim)
    assert len(third.lanes) == 1 and third.room == 0


async def test_a_claim_takes_no_more_lanes_than_the_cap_leaves_and_a_slot_for_each(
    bus: LaneBus, redis: Redis, keys: Keys
):
    """The slots come from the claim's own script: two claimers racing for ten ready lanes
    under a cap of three take three between them, each lane with a slot named in Redis;
    with the cap reached a claim takes nothing; a slot given back makes room for one."""
    a = Slots(redis, keys.agent_slots, cap=3, ttl_s=30)
    b = Slots(redis, keys.agent_slots, cap=3, ttl_s=30)
    await bus.publish(Stage.AGENT, [(f"s{i}", env(i)) for i in range(10)])
    claims = await asyncio.gather(
        *(bus.claim_and(Stage.AGENT, 4, 10, slots=s.claim) for s in (a, b, a, b))
    )
    lanes = [lane.lane for c in claims for lane in c.lanes]
    slots = [slot for c in claims for slot in c.slots]
    assert len(lanes) == 3 and len(set(lanes)) == 3
    assert sorted(slots) == sorted(m.decode() for m in await redis.zrange(keys.agent_slots, 0, -1))
    assert min(c.room for c in claims if c.room is not None) == 0
    assert (await bus.claim_and(Stage.AGENT, 4, 10, slots=b.claim)).lanes == []
    await a.release(slots[:1])
    again = await bus.claim_and(Stage.AGENT, 4, 10, slots=b.claim)
    assert len(again.lanes) == 1 and len(again.slots) == 1 and again.room == 0
    assert await a.in_use() == 3


async def test_scripts_lost_by_a_redis_restart_are_loaded_again(bus: LaneBus, redis: Redis):
    await bus.publish(Stage.ROUTE, [("c", env(1))])
    await redis.script_flush()
    assert await bus.publish(Stage.ROUTE, [("c", env(2)), ("c", env(1))]) == [False, True]
    await redis.script_flush()
    [lane] = await bus.claim(Stage.ROUTE, 1, 10)
    assert ids(lane) == ["m1", "m2"]
    await redis.script_flush()
    assert await bus.finish_many([(lane, [e.id for e in lane.entries], True)]) == [1]


async def test_a_sleeping_claim_wakes_on_the_ring_and_returns_the_lane(bus: LaneBus):
    """A claim that waits for the bell first claims in the same round trip: the publish that
    rings is what it returns, long before its wait would have run out."""
    await bus.claim(Stage.ROUTE, 10, 10, hush=True)  # silence any earlier ring
    loop = asyncio.get_running_loop()
    started = loop.time()
    sleeping = asyncio.create_task(bus.claim(Stage.ROUTE, 10, 10, hush=True, wait_s=10))
    await asyncio.sleep(0.2)
    assert not sleeping.done()
    await bus.publish(Stage.ROUTE, [("c", env(1))])
    [lane] = await asyncio.wait_for(sleeping, 9)
    assert ids(lane) == ["m1"]
    assert loop.time() - started < 9


async def test_a_sleeping_claim_returns_at_once_for_a_ring_it_has_not_served(bus: LaneBus):
    await bus.claim(Stage.ROUTE, 10, 10, hush=True)
    await bus.publish(Stage.ROUTE, [("c", env(1))])  # rang while nobody was waiting
    [lane] = await asyncio.wait_for(bus.claim(Stage.ROUTE, 10, 10, hush=True, wait_s=10), 9)
    assert ids(lane) == ["m1"]
    # the ring was answered: the next sleeping claim waits its time out, then polls
    assert await bus.claim(Stage.ROUTE, 10, 10, hush=True, wait_s=0.2) == []


async def test_a_ring_follows_the_scripts_a_lost_script_cache_made_run_again(
    bus: LaneBus, redis: Redis
):
    """A handback whose script Redis lost rings before the re-run makes the lane ready;
    the ring goes out again after it, so a sleeper is not left waiting for its poll."""
    await bus.publish(Stage.ROUTE, [("c", env(1))])
    [held] = await bus.claim(Stage.ROUTE, 1, 10, hush=True)
    await redis.script_flush()
    assert await bus.claim(Stage.ROUTE, 1, 10) == []  # loads the claim script, not handback's
    early = asyncio.create_task(bus.claim(Stage.ROUTE, 1, 10, hush=True, wait_s=30))
    await asyncio.sleep(0.2)  # asleep on the bell
    await bus.handback(held)
    woken = await asyncio.wait_for(early, 20)
    # woken by the ring sent ahead of the re-run, or after it: either way a sleeper finds
    # the lane at once, not after its wait
    lanes = woken or await asyncio.wait_for(bus.claim(Stage.ROUTE, 1, 10, hush=True, wait_s=30), 20)
    assert [ids(lane) for lane in lanes] == [["m1"]]


async def test_a_claim_does_not_queue_behind_the_pipelines_on_the_shared_wire(
    redis_server: EmbeddedRedis, keys: Keys
):
    """A consumer's commits go over its process's shared connection; a claim sent behind a
    large one would wait for all of it. Here a pop that blocks holds the shared connection,
    and a claim sent after it still comes back first. (Over redis-py's pool every pipeline
    has a connection of its own: the services' transport is the one in question.)"""
    redis = Redis.from_url(redis_server.url)
    assert wires.attach(redis) is not None
    bus = LaneBus(redis, keys)
    try:
        await bus.publish(Stage.ROUTE, [("c", env("x"))])
        held = asyncio.create_task(
            wires.send(redis, lambda pipe: pipe.blpop(["nothing-yet"], timeout=30))
        )
        await asyncio.sleep(0.1)  # the pop is on the shared connection, blocking it
        claim = await bus.claim_and(Stage.ROUTE, 1, 10)
        assert [lane.lane for lane in claim.lanes] == ["c"]
        assert not held.done()
        await redis.lpush("nothing-yet", "1")  # let the pop go (a command: the pool's)
        assert list((await held)[0]) == [b"nothing-yet", b"1"]
    finally:
        await wires.detach(redis)
        await redis.aclose()


async def test_the_bell_stays_bounded_with_no_claimer_awake(bus: LaneBus, redis: Redis, keys: Keys):
    for i in range(200):  # a ring per publish, and nobody popping them
        await bus.publish(Stage.ROUTE, [(f"c{i}", env(i))])
    assert BELL_DEPTH <= await redis.llen(keys.bell(Stage.ROUTE)) <= BELL_DEPTH + 7
