# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Channels are enabled by credentials; a wrong one is reported ("degraded") and the
others keep working."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from common.channel_settings import ChannelSettings
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.support import DEFAULT_CONFIG_FILE
from tests.support.ingest_app import channel_settings, ingest_app
from tests.support.processes import ServiceProcess


@pytest.mark.parametrize(
    ("settings", "channel", "says"),
    [
        ({"slack_bot_token": "xoxp-user-token", "slack_signing_secret": "s"}, "slack", "xoxb"),
        ({"slack_bot_token": BOT_TOKEN}, "slack", "SIGNING_SECRET"),
        ({"slack_signing_secret": "s"}, "slack", "BOT_TOKEN is not set"),
        ({"slack_bot_token": BOT_TOKEN, "slack_app_token": "xoxb-x"}, "slack", "xapp"),
        ({"telegram_bot_token": "no-colon"}, "telegram", "123456:ABC"),
        ({"telegram_bot_token": "1:a", "telegram_mode": "webhook"}, "telegram", "WEBHOOK_SECRET"),
        ({"discord_bot_token": "short"}, "discord", "does not look like"),
    ],
)
async def test_bad_credentials_are_reported(settings, channel, says, redis_server, namespace):
    async with ingest_app(redis_server.url, namespace, channel_settings(**settings)) as (
        _,
        _,
        mounted,
        _,
    ):
        assert says in mounted.problems[channel]


async def test_nothing_configured_means_nothing_mounted(redis_server, namespace):
    async with ingest_app(redis_server.url, namespace, channel_settings()) as (
        _,
        _,
        mounted,
        client,
    ):
        assert mounted.runners == [] and mounted.problems == {}
        assert (await client.post("/slack/events", content=b"{}")).status_code in (404, 405)


def test_credentials_come_from_files(tmp_path, monkeypatch):
    secret = tmp_path / "token"
    secret.write_text("123:from-a-file\n")
    monkeypatch.setenv("CLAWBUS_TELEGRAM_BOT_TOKEN_FILE", str(secret))
    monkeypatch.setenv("CLAWBUS_TELEGRAM_WEBHOOK_SECRET", "hook")
    cs = ChannelSettings()
    assert cs.telegram_bot_token is not None
    assert cs.telegram_bot_token.get_secret_value() == "123:from-a-file"
    assert cs.telegram_webhook


@pytest.mark.slow
async def test_readyz_says_degraded_and_the_web_chat_still_answers(redis_server, namespace):
    async with FakeSlack() as fake:
        env = {
            **os.environ,
            "CLAWBUS_REDIS_URL": redis_server.url,
            "CLAWBUS_NAMESPACE": namespace,
            "CLAWBUS_CONFIG_PATH": DEFAULT_CONFIG_FILE,
            "CLAWBUS_SLACK_BOT_TOKEN": "xoxb-wrong-token",
            "CLAWBUS_SLACK_SIGNING_SECRET": "s",
            "CLAWBUS_SLACK_API_URL": fake.api_url,
        }
        proc = ServiceProcess("ingest", env).start()
        try:
            await proc.wait_ready_async(30)
            async with httpx.AsyncClient(base_url=proc.url) as client:
                for _ in range(50):
                    ready = (await client.get("/readyz")).json()
                    if ready["status"] == "degraded":
                        break
                    await asyncio.sleep(0.1)
                assert ready["status"] == "degraded"
                assert "invalid_auth" in ready["degraded"][0]
                assert (await client.get("/")).status_code == 200
        finally:
            proc.terminate(10)
