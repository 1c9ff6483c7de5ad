# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Slack in: the Events API endpoint (signatures, retries) and event normalisation."""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
import pytest
from slack_sdk.signature import SignatureVerifier

from common.keys import Stage
from ingest.channels.slack import intake
from ingest.channels.slack.events import SlackBot, to_inbound
from tests.fakes.slack import BOT_TOKEN, BOT_USER, FakeSlack
from tests.support.ingest_app import channel_settings, ingest_app, published

SECRET = "signing-secret"


def signed(body: bytes, *, age_s: int = 0, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) - age_s)
    sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "x-slack-request-timestamp": ts,
        "x-slack-signature": sig or "",
        "content-type": "application/json",
    }


def envelope(event: dict[str, Any], event_id: str = "Ev1") -> bytes:
    return orjson.dumps(
        {
            "type": "event_callback",
            "team_id": "T1",
            "event_id": event_id,
            "event": event,
            "authorizations": [{"user_id": BOT_USER, "is_bot": True}],
        }
    )


MESSAGE = {
    "type": "message",
    "channel": "C1",
    "channel_type": "channel",
    "user": "U1",
    "text": "hello <@UBOT> see <https://ex.com|docs> &amp; more",
    "ts": "1700000000.000100",
}


@pytest.fixture
async def fake():
    async with FakeSlack() as server:
        yield server


@pytest.fixture
async def client(fake, redis_server, namespace):
    cs = channel_settings(
        slack_bot_token=BOT_TOKEN, slack_signing_secret=SECRET, slack_api_url=fake.api_url
    )
    async with ingest_app(redis_server.url, namespace, cs) as (_, _, mounted, client):
        assert mounted.problems == {}
        yield client


async def test_url_verification_is_answered(client):
    body = orjson.dumps({"type": "url_verification", "challenge": "abc123"})
    r = await client.post("/slack/events", content=body, headers=signed(body))
    assert r.status_code == 200 and r.json() == {"challenge": "abc123"}


async def test_bad_and_expired_signatures_are_refused(client, bus):
    body = envelope(MESSAGE)
    bad = await client.post("/slack/events", content=body, headers=signed(body, secret="nope"))
    assert bad.status_code == 401
    old = await client.post("/slack/events", content=body, headers=signed(body, age_s=6 * 60))
    assert old.status_code == 401
    tampered = signed(body)
    r = await client.post("/slack/events", content=body + b" ", headers=tampered)
    assert r.status_code == 401
    assert (await bus.stats(Stage.ROUTE)).backlog == 0
    fresh = await client.post("/slack/events", content=body, headers=signed(body, age_s=4 * 60))
    assert fresh.status_code == 200


async def test_slack_retries_are_accepted_once(client, bus):
    body = envelope(MESSAGE)
    first = await client.post("/slack/events", content=body, headers=signed(body))
    retry_headers = {
        **signed(body),
        "x-slack-retry-num": "1",
        "x-slack-retry-reason": "http_timeout",
    }
    again = await client.post("/slack/events", content=body, headers=retry_headers)
    assert first.json()["duplicate"] is False
    assert again.json()["duplicate"] is True and again.json()["retry"] == "1"
    # the app_mention event of the same message is the same message
    mention = envelope({**MESSAGE, "type": "app_mention"}, "Ev2")
    third = await client.post("/slack/events", content=mention, headers=signed(mention))
    assert third.json()["duplicate"] is True
    [msg] = await published(bus)
    assert msg.text == "hello @bot see docs (https://ex.com) & more"
    assert msg.is_mention and not msg.is_dm
    assert msg.sender.name == "name-U1"  # from users.info


async def test_a_name_lookup_that_failed_is_tried_again_soon(client, fake, bus, monkeypatch):
    monkeypatch.setattr(intake, "NAME_RETRY_S", 0.0)
    fake.script("users.info", FakeSlack.rate_limited(30))
    for i, event_id in enumerate(("Ev7", "Ev8")):
        event = {**MESSAGE, "user": "U7", "ts": f"1700000001.00010{i}"}
        body = envelope(event, event_id)
        r = await client.post("/slack/events", content=body, headers=signed(body))
        assert r.status_code == 200
    first, second = await published(bus)
    assert first.sender.name is None  # Slack refused the lookup: no name, not no message
    assert second.sender.name == "name-U7"  # not an hour without it


def test_the_name_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(intake, "NAME_CACHE_MAX", 4)
    cache = intake.SlackIntake.__new__(intake.SlackIntake)
    cache.names = {}
    now = time.monotonic()
    for i in range(10):
        if len(cache.names) >= intake.NAME_CACHE_MAX:
            cache._trim_names()
        cache.names[f"U{i}"] = (f"n{i}", now + 3600)
    assert len(cache.names) <= 4 and "U9" in cache.names and "U0" not in cache.names


async def test_images_are_downloaded_for_the_agent(client, fake, bus):
    fake.files["cat.png"] = b"\x89PNG fake image"
    fake.files["big.png"] = b"x" * 10
    event = {
        **MESSAGE,
        "subtype": "file_share",
        "files": [
            {
                "id": "F1",
                "name": "cat.png",
                "mimetype": "image/png",
                "size": 15,
                "url_private": f"{fake.base}/files/cat.png",
            },
            {
                "id": "F2",
                "name": "notes.pdf",
                "mimetype": "application/pdf",
                "size": 99,
                "url_private": f"{fake.base}/files/notes.pdf",
            },
        ],
    }
    body = envelope(event)
    assert (
        await client.post("/slack/events", content=body, headers=signed(body))
    ).status_code == 200
    [msg] = await published(bus)
    image, pdf = msg.attachments
    assert image.kind == "image" and base64.b64decode(image.data_b64 or "") == b"\x89PNG fake image"
    assert pdf.kind == "file" and pdf.data_b64 is None and pdf.name == "notes.pdf"


BOT = SlackBot(user_id="UBOT", bot_id="BBOT")


def test_dm_thread_reply_and_edit_are_normalised():
    dm = to_inbound({**MESSAGE, "channel": "D9", "channel_type": "im", "text": "hi"}, BOT)
    assert dm is not None and dm.is_dm and not dm.is_mention and dm.thread_id is None
    reply = to_inbound(
        {
            **MESSAGE,
            "ts": "1700000000.000300",
            "thread_ts": "1700000000.000100",
            "parent_user_id": "UBOT",
            "text": "thanks",
        },
        BOT,
    )
    assert reply is not None
    assert reply.thread_id == reply.reply_to == "1700000000.000100" and reply.reply_to_bot
    edit = to_inbound(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C1",
            "channel_type": "channel",
            "message": {**MESSAGE, "text": "fixed", "edited": {"user": "U1", "ts": "1700000050.0"}},
            "previous_message": {**MESSAGE},
            "event_ts": "1700000050.0",
        },
        BOT,
    )
    original = to_inbound(MESSAGE, BOT)
    assert edit is not None and original is not None
    assert edit.edited and edit.text == "fixed" and edit.platform_message_id == MESSAGE["ts"]
    assert edit.message_id != original.message_id
    unfurl = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "message": {**MESSAGE},
        "previous_message": {**MESSAGE},
    }
    assert to_inbound(unfurl, BOT) is None


def test_own_messages_joins_and_other_bots():
    assert to_inbound({**MESSAGE, "user": "UBOT"}, BOT) is None
    assert to_inbound({**MESSAGE, "subtype": "channel_join"}, BOT) is None
    assert to_inbound({**MESSAGE, "bot_id": "BBOT", "user": None}, BOT) is None
    other = to_inbound({**MESSAGE, "bot_id": "BOTHER", "user": None, "subtype": None}, BOT)
    assert other is not None and other.sender.is_bot
