"""G4: a retried delivery never sends twice silently; G3: a reply whose channel is not
enabled is kept, not lost."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from common.bus import DeadLetter, LaneBus
from common.config import load_config
from common.envelope import Envelope, decode, now_ms
from common.errors import RetryableError
from common.keys import Keys, Stage
from common.messages import Destination, OutboundMessage
from delivery.channels.webhook import WebhookChannel
from delivery.handler import DeliverHandler
from tests.guarantees.cluster import SECRET, Sink
from tests.support.delivery_stack import config_for, delivering, eventually


def outbound(text: str, action: str = "send") -> Envelope:
    msg = OutboundMessage(
        id=f"out-{text}",
        destination=Destination(channel="http", chat_id="c"),
        agent="assistant",
        session="assistant|http:c",
        text=text,
        action=action,
    )
    return Envelope(
        id=msg.id,
        kind="outbound",
        trace_id="t",
        accepted_ms=now_ms(),
        payload=msg.model_dump(mode="json"),
    )


async def dead_letters(bus: LaneBus, timeout_s: float = 5) -> list[DeadLetter]:
    """The deliver stage's dead letters, once there are any (or none after the timeout)."""
    for _ in range(int(timeout_s / 0.05)):
        if letters := await bus.dead_letters(Stage.DELIVER):
            return letters
        await asyncio.sleep(0.05)
    return []


async def claim_one(bus: LaneBus):
    [lane] = await bus.claim(Stage.DELIVER, 1, 10)
    return lane


async def test_a_crash_after_the_send_and_receipt_never_sends_again(
    redis: Redis, keys: Keys, sink: Sink
):
    bus = LaneBus(redis, keys, lease_ttl_s=0.3)
    channel = WebhookChannel(sink.url, SECRET)
    handler = DeliverHandler(redis, keys, load_config(None), {"http": channel})
    await bus.publish(Stage.DELIVER, [("http:c", outbound("once"))])
    lane = await claim_one(bus)
    await handler(lane, lane.entries[0])  # sent and receipted; the process "dies" before ack
    await asyncio.sleep(0.4)
    again = await claim_one(bus)
    assert again.entries[0].envelope.id == "out-once"
    await handler(again, again.entries[0])
    assert [d.text for d in sink.received] == ["once"]
    await channel.aclose()


async def test_a_send_that_timed_out_is_resent_flagged_with_the_same_id(
    redis: Redis, keys: Keys, sink: Sink
):
    bus = LaneBus(redis, keys, lease_ttl_s=5)
    channel = WebhookChannel(sink.url, SECRET, timeout_s=0.3)
    handler = DeliverHandler(redis, keys, load_config(None), {"http": channel})
    slow_first = asyncio.Event()
    original = sink._hook

    async def hook(request):
        response = await original(request)
        if not slow_first.is_set():
            slow_first.set()
            await asyncio.sleep(1)  # the platform got it, but answers too late
        return response

    sink._hook = hook  # type: ignore[method-assign]
    await sink.stop()
    await sink.start()
    await bus.publish(Stage.DELIVER, [("http:c", outbound("maybe"))])
    lane = await claim_one(bus)
    with pytest.raises(RetryableError):
        await handler(lane, lane.entries[0])
    await handler(lane, lane.entries[0])
    first, second = sink.received
    assert first.delivery_id == second.delivery_id == "out-maybe"
    assert (first.possible_duplicate, second.possible_duplicate) == (False, True)
    await channel.aclose()


async def test_a_reply_to_a_channel_not_enabled_waits_in_the_dead_letters(
    redis: Redis, keys: Keys, sink: Sink
):
    bus = LaneBus(redis, keys, lease_ttl_s=5)
    await bus.publish(
        Stage.DELIVER,
        [("http:c", outbound("thinking", action="typing")), ("http:c", outbound("shipped"))],
    )
    # a delivery without the webhook's settings: the web chat only
    async with delivering(bus, redis, keys, {}, config_for("http")):
        letters = await dead_letters(bus)
    # the reply is kept with what to set; the typing indicator, stale by then, is not
    [letter] = letters
    assert (letter.lane, decode(letter.envelope).id) == ("http:c", "out-shipped")
    assert "channel http is not enabled" in letter.error
    assert "CLAWBUS_WEBHOOK_URL" in letter.error
    assert (await bus.stats(Stage.DELIVER)).backlog == 0
    # enabled, the dead letter replayed: sent once, nothing left behind
    channel = WebhookChannel(sink.url, SECRET)
    assert await bus.replay(Stage.DELIVER, letter.partition, letter.id) == "http:c"
    async with delivering(bus, redis, keys, {"http": channel}, config_for("http")):
        await eventually(lambda: len(sink.received) == 1, timeout=5)
    assert [d.text for d in sink.received] == ["shipped"]
    assert await bus.dead_letters(Stage.DELIVER) == []
    await channel.aclose()


async def test_a_webhook_that_refuses_the_address_or_signature_keeps_the_reply(
    redis: Redis, keys: Keys, sink: Sink
):
    bus = LaneBus(redis, keys, lease_ttl_s=5)
    sink.behaviour = lambda _: 401  # the receiver has another secret
    channel = WebhookChannel(sink.url, SECRET)
    await bus.publish(Stage.DELIVER, [("http:c", outbound("kept"))])
    async with delivering(bus, redis, keys, {"http": channel}, config_for("http")):
        letters = await dead_letters(bus)
    [letter] = letters
    assert "webhook refused with 401" in letter.error and "CLAWBUS_WEBHOOK_SECRET" in letter.error
    assert sink.attempts == ["kept"] and sink.received == []
    # fixed, and replayed: delivered once, and not flagged, since the refusal sent nothing
    sink.behaviour = lambda _: 200
    await bus.replay(Stage.DELIVER, letter.partition, letter.id)
    async with delivering(bus, redis, keys, {"http": channel}, config_for("http")):
        await eventually(lambda: len(sink.received) == 1, timeout=5)
    [delivered] = sink.received
    assert (delivered.text, delivered.possible_duplicate) == ("kept", False)
    await channel.aclose()
