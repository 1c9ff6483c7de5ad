# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Slack Socket Mode through the real SDK client: events acknowledged only once published."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from common.keys import Stage
from ingest.channels.slack.intake import SlackIntake
from ingest.channels.slack.socket import SlackSocket
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.support.ingest_app import channel_settings, ingest_app, published

EVENT: dict[str, Any] = {
    "type": "event_callback",
    "event": {
        "type": "message",
        "channel": "D5",
        "channel_type": "im",
        "user": "U1",
        "text": "over the socket",
        "ts": "1700000001.000100",
    },
}


@pytest.fixture
async def fake():
    async with FakeSlack() as server:
        yield server


async def test_socket_mode_publishes_then_acks(fake, redis_server, namespace, bus):
    cs = channel_settings(slack_bot_token=BOT_TOKEN, slack_api_url=fake.api_url)
    async with ingest_app(redis_server.url, namespace, cs) as (_, publisher, _, _):
        web = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)
        intake = SlackIntake(
            publisher, web, token=BOT_TOKEN, max_attachment_bytes=1000, problems={}
        )
        socket = SlackSocket(intake, APP_TOKEN, web)
        task = asyncio.create_task(socket.run())
        try:
            first = await fake.push(EVENT)
            await fake.wait_ack(first)
            # Slack resends an envelope it thinks was lost: accepted once, acked again
            again = await fake.push(EVENT, retry_attempt=1)
            await fake.wait_ack(again)
            # while ingest cannot publish (backpressure), nothing is acknowledged
            publisher.backlog_limit = 0
            refused = await fake.push({**EVENT, "event": {**EVENT["event"], "ts": "1700000002.0"}})
            await asyncio.sleep(1.0)
            assert refused not in fake.acks
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await intake.aclose()
        assert fake.connections >= 1
        assert fake.called("apps.connections.open")
        assert (await bus.stats(Stage.ROUTE)).backlog == 1
        [msg] = await published(bus)
        assert msg.is_dm and msg.text == "over the socket" and msg.channel == "slack"
