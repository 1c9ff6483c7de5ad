"""Outputs and acks in one round trip: what Redis refuses never costs an accepted entry."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from common.bus import ClaimedLane, LaneBus
from common.bus.lanes import Committed
from common.bus.writer import BatchWriter, Emit, Precommit, PrecommitFailed
from common.envelope import Envelope
from common.errors import Fenced
from common.keys import Keys, Stage
from tests.support.trips import RoundTrips


def env(i: str) -> Envelope:
    return Envelope(id=i, kind="test", trace_id="t", accepted_ms=0, payload={})


async def pending(redis: Redis, keys: Keys, stage: Stage, lane: str) -> int:
    stream = keys.lane_partition(stage, lane).lane_stream(lane)
    if not await redis.exists(stream):
        return 0
    return int((await redis.xpending(stream, "g"))["pending"])


async def lane_ids(bus: LaneBus, stage: Stage, lane: str) -> list[str]:
    claimed = [c for c in await bus.claim(stage, 100, 100) if c.lane == lane]
    return [e.envelope.id for c in claimed for e in c.entries if e.envelope]


async def held(bus: LaneBus, conversation: str) -> ClaimedLane:
    """A route lane holding one inbound entry, claimed."""
    await bus.publish(Stage.ROUTE, [(conversation, env(f"in-{conversation}"))])
    [lane] = await bus.claim(Stage.ROUTE, 1, 10)
    return lane


async def commit(writer: BatchWriter, lane: ClaimedLane, session: str, *, release: bool = True):
    """Commit the lane's entry with one output into the agent lane ``session``."""
    out = Emit(Stage.AGENT, session, env(f"out-{session}"))
    return await writer.commit(lane, [lane.entries[0].id], [out], release=release)


async def landed(bus: LaneBus, redis: Redis, keys: Keys, conv: str, session: str) -> None:
    """The input of ``conv`` is acked and its one output is in the agent lane ``session``."""
    assert await pending(redis, keys, Stage.ROUTE, conv) == 0
    assert await lane_ids(bus, Stage.AGENT, session) == [f"out-{session}"]


async def test_outputs_and_acks_land_together(bus: LaneBus, writer: BatchWriter, redis, keys):
    lane = await held(bus, "c1")
    await commit(writer, lane, "s1")
    await landed(bus, redis, keys, "c1", "s1")


async def test_out_of_memory_refuses_the_acks_with_the_outputs(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    lane = await held(bus, "c2")
    policy = (await redis.config_get("maxmemory-policy"))["maxmemory-policy"]
    await redis.config_set("maxmemory-policy", "noeviction")
    await redis.config_set("maxmemory", 1)
    try:
        with pytest.raises(ResponseError, match="maxmemory"):
            await commit(writer, lane, "s2", release=False)
    finally:
        await redis.config_set("maxmemory", 0)
        await redis.config_set("maxmemory-policy", policy)
    assert await pending(redis, keys, Stage.ROUTE, "c2") == 1  # not acked: it will run again
    assert await lane_ids(bus, Stage.AGENT, "s2") == []  # and nothing went out
    await commit(writer, lane, "s2")
    await landed(bus, redis, keys, "c2", "s2")


async def test_a_server_that_lost_its_scripts_takes_both(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    lane = await held(bus, "c3")
    await redis.script_flush()  # as after a restart
    await commit(writer, lane, "s3")
    await landed(bus, redis, keys, "c3", "s3")


async def test_outputs_refused_after_the_ack_are_published_again(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    lane = await held(bus, "c4")
    stream = keys.lane_partition(Stage.AGENT, "s4").lane_stream("s4")
    await redis.set(stream, b"damaged by hand")  # the output lane's stream is not a stream
    await commit(writer, lane, "s4")
    assert await pending(redis, keys, Stage.ROUTE, "c4") == 0  # the input was acked
    await asyncio.sleep(0.3)
    await redis.delete(stream)  # repaired: the owed output lands
    for _ in range(100):
        if got := await lane_ids(bus, Stage.AGENT, "s4"):
            assert got == ["out-s4"]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the refused output was never published again")


# -- precommits: a record written in the commit's round trip decides which outputs stand --

RECORD = """
local prior = redis.call('GET', KEYS[1])
if prior then return prior end
redis.call('SET', KEYS[1], ARGV[1])
return false
"""

# the same record left to the step: not set where it is unset (see ``Precommit.unwritten``)
UNWRITTEN = """
local prior = redis.call('GET', KEYS[1])
if prior then return prior end
return false
"""


def staged(
    redis: Redis,
    keys: Keys,
    name: str,
    value: str,
    *,
    drop: bool = False,
    fenced: bool = False,
    unwritten: bool = False,
) -> Precommit:
    """A precommit that records ``value`` unless a record is there, like a run's (and,
    with ``fenced``, finds the lane's lease lost, as a run's finds it)."""
    key = keys.kv(f"record:{name}")

    def recover(reply: object) -> list[Emit]:
        if isinstance(reply, Exception):
            raise reply
        if fenced:
            raise Fenced("lease lost before the commit")
        return [Emit(Stage.AGENT, f"s-{name}", env(f"out-{(reply or value.encode()).decode()}"))]

    sha = hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()
    if fenced:  # writes nothing, as a precommit that checks the lease writes nothing
        return Precommit((redis.register_script("return -1"), [key], []), key, sha, recover)
    if unwritten:
        call = (redis.register_script(UNWRITTEN), [key], [value])
        return Precommit(call, key, sha, recover, drop=True, unwritten=(value.encode(), 60))
    return Precommit((redis.register_script(RECORD), [key], [value]), key, sha, recover, drop=drop)


async def commit_staged(writer: BatchWriter, lane: ClaimedLane, pre: Precommit, value: str):
    out = Emit(Stage.AGENT, f"s-{lane.lane}", env(f"out-{value}"))
    return await writer.commit(lane, [lane.entries[0].id], [out], release=True, precommit=pre)


async def test_a_precommit_goes_in_the_commits_round_trip(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys, monkeypatch
):
    warm = await held(bus, "p0")  # the scripts loaded first, as in a service that has run
    await commit_staged(writer, warm, staged(redis, keys, "p0", "mine"), "mine")
    lane = await held(bus, "p1")
    trips = RoundTrips(bus, monkeypatch)
    await commit_staged(writer, lane, staged(redis, keys, "p1", "mine"), "mine")
    assert trips.count == 1
    assert await redis.get(keys.kv("record:p1")) == b"mine"
    assert await pending(redis, keys, Stage.ROUTE, "p1") == 0
    assert await lane_ids(bus, Stage.AGENT, "s-p1") == ["out-mine"]


async def test_an_earlier_record_wins_and_its_outputs_go_out_instead(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    lane = await held(bus, "p2")
    await redis.set(keys.kv("record:p2"), "theirs")  # an earlier holder committed first
    # two lanes in one flush: the plain one is not held up by the other's recovery
    other = await held(bus, "p3")
    await asyncio.gather(
        commit_staged(writer, lane, staged(redis, keys, "p2", "mine"), "mine"),
        commit(writer, other, "s3"),
    )
    assert await pending(redis, keys, Stage.ROUTE, "p2") == 0
    assert await pending(redis, keys, Stage.ROUTE, "p3") == 0
    out = {
        c.lane: [e.envelope.id for e in c.entries if e.envelope]
        for c in await bus.claim(Stage.AGENT, 10, 10)
    }
    assert out == {"s-p2": ["out-theirs"], "s3": ["out-s3"]}
    assert await redis.get(keys.kv("record:p2")) == b"theirs"


async def test_a_failed_precommit_publishes_and_acks_nothing(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    lane = await held(bus, "p4")
    await redis.rpush(keys.kv("record:p4"), "not a string")  # GET meets WRONGTYPE
    with pytest.raises(PrecommitFailed, match="WRONGTYPE"):
        await commit_staged(writer, lane, staged(redis, keys, "p4", "mine"), "mine")
    assert await pending(redis, keys, Stage.ROUTE, "p4") == 1
    assert await lane_ids(bus, Stage.AGENT, "s-p4") == []
    # still held: the consumer backs it off as for a failed handler
    dead, attempts = await bus.fail(lane, [lane.entries[0].id], "x", delay_s=0)
    assert (dead, attempts) == (False, 1)


async def test_a_dropped_record_goes_with_the_ack(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    lane = await held(bus, "p5")
    await commit_staged(writer, lane, staged(redis, keys, "p5", "mine", drop=True), "mine")
    assert await pending(redis, keys, Stage.ROUTE, "p5") == 0
    assert await lane_ids(bus, Stage.AGENT, "s-p5") == ["out-mine"]
    assert await redis.exists(keys.kv("record:p5")) == 0


@pytest.mark.parametrize("unwritten", [False, True], ids=["written", "unwritten"])
async def test_a_dropped_record_stays_when_the_ack_is_fenced(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys, unwritten: bool
):
    lane = await held(bus, "p6")
    await redis.hset(lane.partition.holders, lane.lane, "another holder's token")
    pre = staged(redis, keys, "p6", "mine", drop=True, unwritten=unwritten)
    with pytest.raises(Fenced):
        await commit_staged(writer, lane, pre, "mine")
    assert await pending(redis, keys, Stage.ROUTE, "p6") == 1
    # the next holder is handed the entry again and must find the record
    assert await redis.get(keys.kv("record:p6")) == b"mine"


async def test_a_precommit_that_finds_the_lease_lost_fails_the_commit_as_fenced(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    lane = await held(bus, "p7")
    with pytest.raises(Fenced):
        await commit_staged(writer, lane, staged(redis, keys, "p7", "mine", fenced=True), "mine")
    assert await pending(redis, keys, Stage.ROUTE, "p7") == 1
    assert await lane_ids(bus, Stage.AGENT, "s-p7") == []


async def test_a_precommit_its_outputs_and_its_ack_are_one_script_call(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    warm = await held(bus, "p8")  # the scripts loaded first, as in a service that has run
    await commit_staged(writer, warm, staged(redis, keys, "p8", "mine"), "mine")
    lane = await held(bus, "p9")
    await redis.config_resetstat()
    await commit_staged(writer, lane, staged(redis, keys, "p9", "mine"), "mine")
    stats = await redis.info("commandstats")
    calls = {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("eval", "evalsha")}
    assert calls == {"eval": 0, "evalsha": 1}
    assert await pending(redis, keys, Stage.ROUTE, "p9") == 0
    assert await lane_ids(bus, Stage.AGENT, "s-p9") == ["out-mine"]


@pytest.mark.parametrize("unwritten", [False, True], ids=["written", "unwritten"])
async def test_a_publish_refused_in_the_step_publishes_and_acks_nothing(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys, unwritten: bool
):
    lane = await held(bus, "p10")
    out = keys.lane_partition(Stage.AGENT, "s-p10").lane_stream("s-p10")
    record = keys.kv("record:p10")
    await redis.set(out, "not a stream")  # the output's append meets WRONGTYPE
    with pytest.raises(PrecommitFailed, match="WRONGTYPE"):
        pre = staged(redis, keys, "p10", "mine", unwritten=unwritten)
        await commit_staged(writer, lane, pre, "mine")
    assert await pending(redis, keys, Stage.ROUTE, "p10") == 1
    assert await redis.get(out) == b"not a stream"
    # what the precommit wrote stands (a record left to the step, the step wrote): the
    # next attempt finds it and sends what it recorded
    assert await redis.get(record) == b"mine"
    if unwritten:
        assert 0 < await redis.ttl(record) <= 60
    await redis.delete(out)  # repaired: the next attempt goes through
    await commit_staged(
        writer, lane, staged(redis, keys, "p10", "mine", unwritten=unwritten), "mine"
    )
    assert await pending(redis, keys, Stage.ROUTE, "p10") == 0
    assert await lane_ids(bus, Stage.AGENT, "s-p10") == ["out-mine"]
    # a record left to the step goes with the ack, as a dropped one does
    assert await redis.exists(record) == (0 if unwritten else 1)


async def test_a_server_that_lost_its_scripts_settles_a_staged_commit(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    warm = await held(bus, "p11")
    await commit_staged(writer, warm, staged(redis, keys, "p11", "mine"), "mine")
    lane = await held(bus, "p12")
    await redis.script_flush()  # as after a restart: the step's script is loaded again
    await commit_staged(writer, lane, staged(redis, keys, "p12", "mine", drop=True), "mine")
    assert await pending(redis, keys, Stage.ROUTE, "p12") == 0
    assert await lane_ids(bus, Stage.AGENT, "s-p12") == ["out-mine"]
    assert await redis.exists(keys.kv("record:p12")) == 0


async def test_an_unwritten_record_is_never_written_when_the_step_acks(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    warm = await held(bus, "p13")  # the scripts loaded first, as in a service that has run
    await commit_staged(writer, warm, staged(redis, keys, "p13", "mine", unwritten=True), "mine")
    lane = await held(bus, "p14")
    await redis.config_resetstat()
    await commit_staged(writer, lane, staged(redis, keys, "p14", "mine", unwritten=True), "mine")
    stats = await redis.info("commandstats")
    # the precommit's look, and nothing more of the record: no write, read back or delete
    # (the one delete is the drained input lane's stream)
    assert stats["cmdstat_get"]["calls"] == stats["cmdstat_del"]["calls"] == 1
    assert "cmdstat_set" not in stats
    assert await pending(redis, keys, Stage.ROUTE, "p14") == 0
    assert await lane_ids(bus, Stage.AGENT, "s-p14") == ["out-mine"]
    assert await redis.exists(keys.kv("record:p14")) == 0


async def test_a_server_that_lost_its_scripts_reports_a_refused_step_as_refused(
    bus: LaneBus, writer: BatchWriter, redis: Redis, keys: Keys
):
    lane = await held(bus, "p17")
    out = keys.lane_partition(Stage.AGENT, "s-p17").lane_stream("s-p17")
    await redis.set(out, "not a stream")
    await redis.script_flush()  # the step's script is loaded again, and meets WRONGTYPE
    with pytest.raises(PrecommitFailed, match="WRONGTYPE"):
        await commit_staged(writer, lane, staged(redis, keys, "p17", "mine"), "mine")
    assert await pending(redis, keys, Stage.ROUTE, "p17") == 1


async def test_a_flush_that_fails_in_its_own_code_fails_its_commits(
    bus: LaneBus, writer: BatchWriter, monkeypatch: pytest.MonkeyPatch
):
    """A flush that breaks after its round trip answers its lanes with the error, and the
    writer goes on with the next."""
    real = bus.commit

    async def short_answer(*args, **kwargs):  # one finish result short: the flush breaks
        return Committed({}, [], [])

    lane = await held(bus, "c1")
    monkeypatch.setattr(bus, "commit", short_answer)
    with pytest.raises(ValueError):
        await asyncio.wait_for(commit(writer, lane, "s1"), 2)
    monkeypatch.setattr(bus, "commit", real)
    assert await asyncio.wait_for(commit(writer, lane, "s1"), 2) is False
