# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The web chat's deliveries: checked, sent and receipted in one atomic step."""

from __future__ import annotations

import orjson

from common.bus import Streams
from common.keys import Stage
from delivery.channels.web import WebChatChannel
from delivery.handler import DeliverHandler
from tests.support.delivery_stack import config_for, outbound, publish


async def test_a_redelivered_message_appears_once(bus, redis, keys):
    web = WebChatChannel(Streams(redis), keys)
    handler = DeliverHandler(redis, keys, config_for("web"), {"web": web})
    await publish(bus, outbound("web", "c1", "hello there", id="w1"))
    [lane] = await bus.claim(Stage.DELIVER, 1, 10)
    [entry] = lane.entries

    assert await handler(lane, entry) == []
    assert await handler(lane, entry) == []  # the re-run of a holder that died before its ack

    history = await Streams(redis).range(keys.webchat_history("c1"))
    assert [fields["text"] for _, fields in history] == ["hello there"]
    [(entry_id, fields)] = history
    assert fields["possible_duplicate"] == "0"
    assert orjson.loads(await redis.get(keys.receipt("w1"))) == [entry_id]
    assert await redis.get(keys.sending("w1")) is None  # no window to mark: one step
    feed = await Streams(redis).range(keys.webchat_events)
    assert [(f["conv"], f["id"], f["text"]) for _, f in feed] == [("c1", entry_id, "hello there")]


async def test_a_receipt_from_a_plain_send_is_honoured(bus, redis, keys):
    web = WebChatChannel(Streams(redis), keys)
    await redis.set(keys.receipt("w2"), orjson.dumps(["1-0"]))  # delivered before
    assert (
        await web.send_once(outbound("web", "c2", "again", id="w2"), keys.receipt("w2"), 60) is None
    )
    assert await Streams(redis).range(keys.webchat_history("c2")) == []
