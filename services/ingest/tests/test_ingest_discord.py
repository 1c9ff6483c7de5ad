# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Discord in: gateway payloads parsed by discord.py's own ConnectionState, then normalised
and published; a gateway that keeps failing never ends the runner."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import discord
import pytest
from aiohttp import web
from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis
from common.bus import LaneBus
from common.keys import Keys, Stage
from common.retry import Backoff
from ingest.channels.discord.gateway import DiscordGateway, DiscordIntake, GatewayClient
from ingest.channels.leader import keep_running
from tests.support.ingest_app import channel_settings, ingest_app, published

BOT = {"id": "900", "username": "clawbot", "discriminator": "0", "avatar": None, "bot": True}
ALICE = {
    "id": "5",
    "username": "alice",
    "discriminator": "0",
    "avatar": None,
    "global_name": "Alice",
}
TS = "2026-01-01T00:00:{:02d}+00:00"


def payload(mid: int, channel: str, content: str, *, guild: str | None = "1", **extra) -> Any:
    data = {
        "id": str(mid),
        "channel_id": channel,
        "author": ALICE,
        "content": content,
        "timestamp": TS.format(mid % 60),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        **extra,
    }
    if guild:
        data["guild_id"] = guild
    return data


GUILD = {
    "id": "1",
    "name": "Guild",
    "roles": [],
    "members": [],
    "emojis": [],
    "stickers": [],
    "features": [],
    "member_count": 2,
    "unavailable": False,
    "voice_states": [],
    "presences": [],
    "large": False,
    "channels": [{"id": "10", "type": 0, "name": "general", "position": 0, "guild_id": "1"}],
    "threads": [
        {
            "id": "11",
            "type": 11,
            "name": "topic",
            "parent_id": "10",
            "guild_id": "1",
            "owner_id": "5",
            "message_count": 1,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 60,
                "archive_timestamp": TS.format(0),
                "locked": False,
            },
        }
    ],
}


class ImageServer:
    async def __aenter__(self):
        app = web.Application()

        async def cat(request: web.Request) -> web.Response:
            return web.Response(body=b"PNGDATA")

        app.router.add_get("/cat.png", cat)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/cat.png"
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


def ready(client: GatewayClient) -> Any:
    """The client's connection state as after the gateway's READY and the guild's CREATE."""
    state: Any = client._connection
    state.parse_ready(
        {
            "v": 10,
            "user": BOT,
            "guilds": [],
            "session_id": "s",
            "resume_gateway_url": "ws://unused",
            "private_channels": [],
            "application": {"id": "900", "flags": 0},
        }
    )
    state.parse_guild_create(GUILD)
    return state


async def test_gateway_messages_are_normalised_and_published(redis_server, namespace, bus):
    async with (
        ImageServer() as images,
        ingest_app(redis_server.url, namespace, channel_settings()) as (_, publisher, _, _),
    ):
        client = GatewayClient(DiscordIntake(publisher, max_attachment_bytes=1000))
        async with client:
            state = ready(client)
            state.parse_message_create(payload(1, "10", "plain in a channel"))
            state.parse_message_create(payload(2, "11", "hi <@900> in a thread", mentions=[BOT]))
            state.parse_message_create(payload(3, "50", "a direct message", guild=None))
            state.parse_message_create(
                payload(
                    4,
                    "10",
                    "answering you",
                    message_reference={"message_id": "99", "channel_id": "10", "guild_id": "1"},
                    referenced_message={**payload(99, "10", "earlier"), "author": BOT},
                    type=19,
                )
            )
            state.parse_message_create(
                payload(
                    5,
                    "10",
                    "a picture",
                    attachments=[
                        {
                            "id": "7",
                            "filename": "cat.png",
                            "size": 7,
                            "url": images.url,
                            "proxy_url": images.url,
                            "content_type": "image/png",
                        }
                    ],
                )
            )
            state.parse_message_create({**payload(6, "10", "from me"), "author": BOT})
            state.parse_message_update(
                {**payload(1, "10", "plain, edited"), "edited_timestamp": TS.format(30)}
            )
            for _ in range(100):
                if (await bus.stats(Stage.ROUTE)).backlog >= 6:
                    break
                await asyncio.sleep(0.05)
        msgs = {
            f"{m.platform_message_id}{':e' if m.edited else ''}": m for m in await published(bus)
        }
    assert set(msgs) == {"1", "2", "3", "4", "5", "1:e"}
    assert msgs["1"].chat_id == "10" and msgs["1"].thread_id is None and not msgs["1"].is_mention
    assert msgs["2"].chat_id == "10" and msgs["2"].thread_id == "11" and msgs["2"].is_mention
    assert msgs["2"].text == "hi @clawbot in a thread"
    assert msgs["3"].is_dm and msgs["3"].chat_id == "50"
    assert msgs["4"].reply_to == "99" and msgs["4"].reply_to_bot
    assert msgs["5"].attachments[0].kind == "image"
    assert base64.b64decode(msgs["5"].attachments[0].data_b64 or "") == b"PNGDATA"
    assert msgs["1:e"].text == "plain, edited" and msgs["1:e"].message_id != msgs["1"].message_id
    assert msgs["1"].sender.name == "Alice" and msgs["1"].channel == "discord"


async def test_a_failing_gateway_is_retried_and_never_ends_the_runner(monkeypatch):
    problems: dict[str, str] = {}
    attempts = 0

    async def login(self, token):
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise discord.LoginFailure("Improper token has been passed.")
        raise OSError("gateway unreachable")

    monkeypatch.setattr(discord.Client, "login", login)
    gateway = DiscordGateway(DiscordIntake(None, max_attachment_bytes=0), "a.b.c", problems)  # type: ignore[arg-type]
    from common.retry import Backoff

    task = asyncio.create_task(keep_running("discord:test", gateway.run, Backoff(0.05, 0.1)))
    for _ in range(100):
        if attempts >= 3:
            break
        await asyncio.sleep(0.05)
    assert not task.done(), "the runner must survive gateway failures"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert attempts >= 3
    assert "token was refused" in problems["discord"]


async def test_a_message_is_held_through_a_redis_restart_not_dropped(tmp_path, namespace):
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="always")
    server.start()
    try:
        async with ingest_app(server.url, namespace, channel_settings()) as (_, publisher, _, _):
            # the earlier eight attempts at this pace gave up within half a second
            intake = DiscordIntake(
                publisher, max_attachment_bytes=1000, backoff=Backoff(0.02, 0.1), deadline_s=30
            )
            client = GatewayClient(intake)
            async with client:
                state = ready(client)
                server.kill()
                state.parse_message_create(payload(7, "10", "while Redis restarts"))
                await asyncio.sleep(1.5)
                server.start()
                bus = LaneBus(Redis.from_url(server.url), Keys(namespace, 1))
                for _ in range(200):
                    if (await bus.stats(Stage.ROUTE)).backlog >= 1:
                        break
                    await asyncio.sleep(0.05)
                [msg] = await published(bus)
                await bus.redis.aclose()
        assert msg.text == "while Redis restarts" and msg.platform_message_id == "7"
    finally:
        server.stop()
