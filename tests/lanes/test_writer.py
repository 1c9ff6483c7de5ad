"""Outputs and acks in one round trip: what Redis refuses never costs an accepted entry."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from common.bus import ClaimedLane, LaneBus
from common.bus.writer import BatchWriter, Emit
from common.envelope import Envelope
from common.keys import Keys, Stage


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


@pytest.fixture
async def writer(bus: LaneBus):
    w = BatchWriter(bus)
    await w.start()
    yield w
    await w.aclose()


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
