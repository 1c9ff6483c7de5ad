# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The web chat's deliveries: checked, sent and receipted in one atomic step, which travels
in the lane commit that acks the entry."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from common.bus import Streams
from common.bus.writer import PrecommitFailed, Staged
from common.keys import Stage
from common.ports import Channel
from delivery.channels.web import WebChatChannel
from delivery.handler import DeliverHandler
from tests.support.delivery_stack import config_for, delivering, outbound, publish
from tests.support.trips import RoundTrips


def web_handler(redis, keys) -> DeliverHandler:
    return DeliverHandler(
        redis, keys, config_for("web"), {"web": WebChatChannel(Streams(redis), keys)}
    )


async def staged_send(bus, redis, keys, chat: str, text: str, out_id: str):
    await publish(bus, outbound("web", chat, text, id=out_id))
    [lane] = await bus.claim(Stage.DELIVER, 1, 10)
    [entry] = lane.entries
    out = await web_handler(redis, keys)(lane, entry)
    assert isinstance(out, Staged) and out.emits == []
    return lane, entry, out.precommit


async def pending(redis, keys, chat: str) -> int:
    part = keys.partition(Stage.DELIVER, keys.partition_of(f"web:{chat}"))
    stream = part.lane_prefix + f"web:{chat}"
    if not await redis.exists(stream):
        return 0
    return int((await redis.xpending(stream, "g"))["pending"])


async def test_a_reply_is_sent_and_acked_in_one_round_trip(bus, redis, keys, writer, monkeypatch):
    # a first delivery loads the lane scripts, as on a server that has run a while
    lane, entry, pre = await staged_send(bus, redis, keys, "c0", "warm", "w0")
    await writer.commit(lane, [entry.id], [], release=True, precommit=pre)
    lane, entry, pre = await staged_send(bus, redis, keys, "c1", "hello there", "w1")
    assert await Streams(redis).range(keys.webchat_history("c1")) == []  # nothing sent yet
    trips = RoundTrips(bus, monkeypatch)
    await writer.commit(lane, [entry.id], [], release=True, precommit=pre)

    assert trips.count == 1
    [(entry_id, fields)] = await Streams(redis).range(keys.webchat_history("c1"))
    assert fields["text"] == "hello there" and fields["possible_duplicate"] == "0"
    assert orjson.loads(await redis.get(keys.receipt("w1"))) == [entry_id]
    assert await redis.get(keys.sending("w1")) is None  # no window to mark: one step
    feed = await Streams(redis).range(keys.webchat_events)
    assert [(f["conv"], f["id"], f["text"]) for _, f in feed][-1] == ("c1", entry_id, "hello there")
    assert await pending(redis, keys, "c1") == 0


async def test_a_redelivered_message_appears_once(bus, redis, keys, writer):
    lane, entry, pre = await staged_send(bus, redis, keys, "c2", "once", "w2")
    script, script_keys, args = pre.call
    await script(keys=script_keys, args=args)  # sent, then the holder died before its ack

    await writer.commit(lane, [entry.id], [], release=True, precommit=pre)  # the retry
    history = await Streams(redis).range(keys.webchat_history("c2"))
    assert [f["text"] for _, f in history] == ["once"]
    assert await pending(redis, keys, "c2") == 0  # the skipped send's ack stands


async def test_a_receipt_from_a_plain_send_is_honoured(bus, redis, keys, writer):
    await redis.set(keys.receipt("w3"), orjson.dumps(["1-0"]))  # delivered before
    lane, entry, pre = await staged_send(bus, redis, keys, "c3", "again", "w3")
    await writer.commit(lane, [entry.id], [], release=True, precommit=pre)
    assert await Streams(redis).range(keys.webchat_history("c3")) == []
    assert await pending(redis, keys, "c3") == 0


async def test_a_failed_send_acks_nothing(bus, redis, keys, writer):
    await redis.set(keys.webchat_history("c4"), "not a stream")  # XADD meets WRONGTYPE
    lane, entry, pre = await staged_send(bus, redis, keys, "c4", "lost?", "w4")
    with pytest.raises(PrecommitFailed, match="WRONGTYPE"):
        await writer.commit(lane, [entry.id], [], release=True, precommit=pre)
    assert await pending(redis, keys, "c4") == 1
    assert await redis.get(keys.receipt("w4")) is None
    assert await Streams(redis).range(keys.webchat_events) == []


async def test_a_failed_send_is_retried_in_order_until_it_lands(bus, redis, keys):
    await redis.set(keys.webchat_history("c5"), "not a stream")
    await publish(
        bus, outbound("web", "c5", "first", id="w5a"), outbound("web", "c5", "second", id="w5b")
    )
    web: dict[str, Channel] = {"web": WebChatChannel(Streams(redis), keys)}
    async with delivering(bus, redis, keys, web, config_for("web")):
        for _ in range(100):  # the lane backs off as a whole: nothing lands meanwhile
            if (
                await redis.hgetall(
                    keys.partition(Stage.DELIVER, keys.partition_of("web:c5")).keys[4]
                )
            ) != {}:
                break
            await asyncio.sleep(0.05)
        assert await Streams(redis).range(keys.webchat_events) == []
        await redis.delete(keys.webchat_history("c5"))  # repaired
        for _ in range(100):
            if len(history := await Streams(redis).range(keys.webchat_history("c5"))) == 2:
                break
            await asyncio.sleep(0.05)
        assert [f["text"] for _, f in history] == ["first", "second"]
    assert await pending(redis, keys, "c5") == 0
