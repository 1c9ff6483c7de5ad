# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Telegram in: the webhook (secret header), long polling (offset in Redis), and updates
normalised (private, group mention, topic, reply to the bot, edit, photo, button press)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from common.keys import Stage
from common.messages import InboundMessage
from ingest.channels.telegram.api import TelegramAPI
from ingest.channels.telegram.intake import TelegramIntake
from ingest.channels.telegram.polling import TelegramPoller
from ingest.channels.telegram.updates import TelegramBot, message_to_inbound
from tests.fakes.telegram import BOT, TOKEN, FakeTelegram
from tests.support.ingest_app import channel_settings, ingest_app, published

SECRET = "hook-secret"
ALICE = {"id": 11, "is_bot": False, "first_name": "Alice", "last_name": "Liddell"}
GROUP = {"id": -100200, "type": "supergroup", "title": "Team", "is_forum": True}
PRIVATE = {"id": 11, "type": "private", "first_name": "Alice"}
ME = TelegramBot(id=123456, username="claw_bot")


def message(mid: int, text: str, chat=PRIVATE, **extra) -> dict[str, Any]:
    return {
        "message_id": mid,
        "from": ALICE,
        "chat": chat,
        "date": 1_700_000_000 + mid,
        "text": text,
        **extra,
    }


@pytest.fixture
async def fake():
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def webhook(fake, redis_server, namespace):
    cs = channel_settings(
        telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET, telegram_api_url=fake.base
    )
    async with ingest_app(redis_server.url, namespace, cs) as (_, _, mounted, client):
        assert len(mounted.runners) == 1 and mounted.problems == {}  # the start-up check
        await mounted.runners[0](asyncio.Event())
        assert fake.called("getMe") and mounted.problems == {}
        yield client


async def test_webhook_checks_the_secret_header(webhook, bus):
    update = {"update_id": 1, "message": message(1, "hello")}
    for wrong in ({}, {"x-telegram-bot-api-secret-token": "guess"}):
        r = await webhook.post("/telegram/webhook", json=update, headers=wrong)
        assert r.status_code == 401
    assert (await bus.stats(Stage.ROUTE)).backlog == 0
    ok = {"x-telegram-bot-api-secret-token": SECRET}
    assert (await webhook.post("/telegram/webhook", json=update, headers=ok)).status_code == 200
    resent = await webhook.post("/telegram/webhook", json=update, headers=ok)
    assert resent.json()["duplicate"] is True
    [msg] = await published(bus)
    assert msg.is_dm and msg.sender.name == "Alice Liddell" and msg.text == "hello"


async def test_photos_are_downloaded_and_buttons_come_back_as_messages(
    webhook, fake, bus, redis, keys
):
    fake.files["photos/ph2.jpg"] = b"\xff\xd8 jpeg bytes"
    ok = {"x-telegram-bot-api-secret-token": SECRET}
    photo = message(
        2,
        "",
        caption="look",
        photo=[
            {"file_id": "ph1", "file_unique_id": "u1", "width": 90, "height": 90, "file_size": 10},
            {
                "file_id": "ph2",
                "file_unique_id": "u2",
                "width": 800,
                "height": 800,
                "file_size": 12,
            },
        ],
    )
    del photo["text"]
    await webhook.post("/telegram/webhook", json={"update_id": 2, "message": photo}, headers=ok)
    await redis.set(keys.kv("telegram:button:abc"), "a value far too long for callback data")
    bot_msg = {
        "message_id": 1000,
        "from": BOT,
        "chat": PRIVATE,
        "date": 1_700_000_100,
        "text": "Pick",
    }
    for update_id, data in ((3, "yes"), (4, "#b:abc")):
        press = {
            "id": f"cb{update_id}",
            "from": ALICE,
            "message": bot_msg,
            "data": data,
            "chat_instance": "x",
        }
        await webhook.post(
            "/telegram/webhook", json={"update_id": update_id, "callback_query": press}, headers=ok
        )
    msgs = await published(bus)
    shot = next(m for m in msgs if m.text == "look")
    assert base64.b64decode(shot.attachments[0].data_b64 or "") == b"\xff\xd8 jpeg bytes"
    assert {m.text for m in msgs if m.reply_to_bot} == {
        "yes",
        "a value far too long for callback data",
    }
    answered = [p["callback_query_id"] for p in fake.called("answerCallbackQuery")]
    assert answered == ["cb3", "cb4"]


def normalise(update: dict[str, Any]) -> InboundMessage:
    got = message_to_inbound(update, ME)
    assert got is not None
    return got


def test_group_mentions_topics_replies_and_edits():
    mention = message(
        5,
        "hey @Claw_Bot what now",
        chat=GROUP,
        entities=[{"type": "mention", "offset": 4, "length": 9}],
    )
    got = normalise({"update_id": 5, "message": mention})
    assert got.is_mention and not got.is_dm and got.chat_name == "Team"
    emoji_first = message(
        6, "👍🏽 @claw_bot", chat=GROUP, entities=[{"type": "mention", "offset": 5, "length": 9}]
    )
    assert normalise({"update_id": 6, "message": emoji_first}).is_mention
    plain = message_to_inbound(
        {"update_id": 7, "message": message(7, "no mention", chat=GROUP)}, ME
    )
    assert plain is not None and not plain.is_mention
    topic = message(
        8,
        "in a topic",
        chat=GROUP,
        is_topic_message=True,
        message_thread_id=42,
        reply_to_message={
            "message_id": 42,
            "forum_topic_created": {"name": "T"},
            "chat": GROUP,
            "date": 1,
        },
    )
    got = normalise({"update_id": 8, "message": topic})
    assert got.thread_id == "42" and got.reply_to is None
    answer = message(
        9,
        "thanks",
        chat=GROUP,
        reply_to_message={"message_id": 1000, "from": BOT, "chat": GROUP, "date": 1, "text": "hi"},
    )
    got = normalise({"update_id": 9, "message": answer})
    assert got.reply_to == "1000" and got.reply_to_bot
    edited = message(9, "thanks!", chat=GROUP, edit_date=1_700_000_500)
    got_edit = normalise({"update_id": 10, "edited_message": edited})
    assert got_edit.edited and got_edit.platform_message_id == "9"
    assert got_edit.message_id != got.message_id
    own = {"message_id": 3, "from": BOT, "chat": GROUP, "date": 1, "text": "me"}
    assert message_to_inbound({"update_id": 11, "message": own}, ME) is None


async def test_polling_keeps_its_offset_in_redis_across_restarts(
    fake, redis_server, namespace, bus, redis, keys
):
    cs = channel_settings(telegram_bot_token=TOKEN, telegram_api_url=fake.base)
    async with ingest_app(redis_server.url, namespace, cs) as (_, publisher, mounted, _):
        assert len(mounted.runners) == 1
        offset_key = keys.kv("telegram:offset:123456")

        def poller() -> TelegramPoller:
            api = TelegramAPI(TOKEN, api_url=fake.base)
            intake = TelegramIntake(
                api, publisher, redis, keys, max_attachment_bytes=100, problems={}
            )
            return TelegramPoller(api, intake, redis, offset_key, timeout_s=0)

        for i in (1, 2):
            fake.add_update(message=message(i, f"m{i}"))
        assert await poller().poll_once() == 2
        assert int(await redis.get(offset_key)) == 3
        # publishing fails: the offset stays, so nothing is lost
        fake.add_update(message=message(3, "m3"))
        publisher.backlog_limit = 0
        with pytest.raises(Exception, match="backlog"):
            await poller().poll_once()
        assert int(await redis.get(offset_key)) == 3
        publisher.backlog_limit = 10_000
        # a new poller (a restart) resumes at the stored offset: m3 once, nothing repeated
        assert await poller().poll_once() == 1
        assert await poller().poll_once() == 0
        assert int(await redis.get(offset_key)) == 4
        offsets = [p["offset"] for p in fake.called("getUpdates")]
        assert offsets == [0, 3, 3, 4]
    assert [m.text for m in await published(bus)] == ["m1", "m2", "m3"]
