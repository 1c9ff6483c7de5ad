"""The Discord gateway: a discord.py client that publishes every message it sees.

The gateway has no acknowledgements, so a message that cannot be published right away
is retried in place for a while before it is given up (and logged). discord.py resumes
dropped sessions itself; anything that still ends the client is restarted by the
leader runner, never taking ingest down.
"""

from __future__ import annotations

import asyncio
import logging
import time

import discord
import httpx

from common.errors import PermanentError
from common.messages import InboundMessage
from common.retry import Backoff
from ingest.channels.discord.inbound import to_inbound
from ingest.channels.downloads import fetch_b64
from ingest.publisher import Publisher

log = logging.getLogger("clawbus.ingest.discord")

# Discord never sends a gateway event again: one that cannot be stored is held and retried
# this long (through a Redis restart or a backlog past its limit) before it is given up
PUBLISH_DEADLINE_S = 900.0


def intents() -> discord.Intents:
    """Guild and DM messages with their content (a privileged intent to switch on)."""
    chosen = discord.Intents.none()
    chosen.guilds = True
    chosen.guild_messages = True
    chosen.dm_messages = True
    chosen.message_content = True
    return chosen


class DiscordIntake:
    def __init__(
        self,
        publisher: Publisher,
        *,
        max_attachment_bytes: int,
        backoff: Backoff | None = None,
        deadline_s: float = PUBLISH_DEADLINE_S,
    ) -> None:
        self.publisher = publisher
        self.max_attachment_bytes = max_attachment_bytes
        self.backoff = backoff or Backoff(0.5, 10.0)
        self.deadline_s = deadline_s
        self.http = httpx.AsyncClient(timeout=15.0)

    async def handle(
        self, message: discord.Message, bot_user_id: int, *, edited: bool = False
    ) -> bool:
        msg = to_inbound(message, bot_user_id, edited=edited)
        if msg is None:
            return False
        msg = await self._images(msg)
        deadline = time.monotonic() + self.deadline_s
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.publisher.accept(msg)
                return True
            except PermanentError:
                raise
            except Exception as exc:
                if attempt == 1:
                    log.warning("discord message not published yet", extra={"error": repr(exc)})
                delay = self.backoff.delay(attempt)
                if time.monotonic() + delay > deadline:
                    log.error(
                        "discord message dropped",
                        extra={"message_id": msg.message_id, "error": repr(exc)},
                    )
                    return False
                await asyncio.sleep(delay)

    async def _images(self, msg: InboundMessage) -> InboundMessage:
        files = []
        for att in msg.attachments:
            if att.kind == "image" and att.url and (att.size or 0) <= self.max_attachment_bytes:
                data = await fetch_b64(self.http, att.url, max_bytes=self.max_attachment_bytes)
                att = att.model_copy(update={"data_b64": data})
            files.append(att)
        return msg.model_copy(update={"attachments": files}) if files else msg


class GatewayClient(discord.Client):
    def __init__(self, intake: DiscordIntake, problems: dict[str, str] | None = None) -> None:
        super().__init__(intents=intents())
        self.intake = intake
        self.problems = problems if problems is not None else {}

    async def on_ready(self) -> None:
        self.problems.pop("discord", None)
        log.info("discord gateway ready", extra={"user": str(self.user)})

    async def on_message(self, message: discord.Message) -> None:
        if self.user is not None:
            await self.intake.handle(message, self.user.id)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        if self.user is not None and payload.data.get("edited_timestamp"):
            await self.intake.handle(payload.message, self.user.id, edited=True)


class DiscordGateway:
    def __init__(self, intake: DiscordIntake, token: str, problems: dict[str, str]) -> None:
        self.intake = intake
        self.token = token
        self.problems = problems

    async def run(self) -> None:
        """Connect and stay connected until cancelled (discord.py reconnects itself)."""
        client = GatewayClient(self.intake, self.problems)
        try:
            async with client:
                await client.start(self.token, reconnect=True)
        except discord.LoginFailure:
            self.problems["discord"] = "the bot token was refused; check CLAWBUS_DISCORD_BOT_TOKEN"
            raise
        except discord.PrivilegedIntentsRequired:
            self.problems["discord"] = (
                "switch on the Message Content intent in the Developer Portal (Bot page)"
            )
            raise
