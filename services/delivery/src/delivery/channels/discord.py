"""Discord REST, outbound, through discord.py's HTTP client: markdown, replies, edits,
reactions, typing.

Every chunk carries a nonce derived from its outbound id with ``enforce_nonce``, so
Discord itself drops a resend of a chunk it already has. discord.py waits out short 429s
inside the call (that lane alone waits); one longer than ``MAX_WAIT_S``, or one without
Discord's headers, becomes ``RateLimited`` so the lane backs off instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord
from discord.http import HTTPClient, Route, handle_message_parameters

from common.envelope import derive_id
from common.errors import Misconfigured, PermanentError, RateLimited, RetryableError
from common.messages import Destination, OutboundMessage
from delivery import chunking
from delivery.channels.ledger import Ledger, Uncertain
from delivery.channels.platform import REPEAT_NOTE_ROOM, PlatformChannel, buttons_as_text

log = logging.getLogger("clawbus.delivery.discord")

LIMIT = 2000
MAX_WAIT_S = 30.0
MENTIONS = discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=True)


def snowflake(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise PermanentError(f"discord: {value!r} is not a channel or message id") from None


def _retry_after(exc: discord.HTTPException) -> float:
    header = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return float(header or 1.0)
    except ValueError:
        return 1.0


class DiscordChannel(PlatformChannel):
    name = "discord"

    def __init__(
        self,
        token: str,
        *,
        api_url: str,
        ledger: Ledger,
        problems: dict[str, str],
        timeout_s: float = 15.0,
    ) -> None:
        super().__init__(ledger, problems)
        Route.BASE = api_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.http: HTTPClient | None = None

    async def start(self) -> None:
        try:
            await self._client()
        except PermanentError as exc:
            log.error("discord disabled", extra={"reason": str(exc)})
        except RetryableError as exc:
            log.warning("discord not reachable yet", extra={"reason": str(exc)})

    async def _client(self) -> HTTPClient:
        if self.http is not None:
            return self.http
        http = HTTPClient(asyncio.get_running_loop(), max_ratelimit_timeout=MAX_WAIT_S)
        try:
            await self._guard(http.static_login(self.token))
        except discord.LoginFailure as exc:
            await http.close()
            self.problems["discord"] = "the bot token was refused (401); check it"
            raise Misconfigured("discord: the bot token was refused (401)") from exc
        except BaseException:
            await http.close()
            raise
        self.http = http
        self.problems.pop("discord", None)
        return http

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def _guard(self, call: Any) -> Any:
        try:
            return await asyncio.wait_for(call, self.timeout_s)
        except discord.RateLimited as exc:
            raise RateLimited("discord: rate limited", retry_after=exc.retry_after) from exc
        except (discord.NotFound, discord.Forbidden) as exc:
            raise PermanentError(f"discord: {exc.status} {exc.text or exc}") from exc
        except discord.DiscordServerError as exc:
            raise RetryableError(f"discord: {exc.status} {exc.text}") from exc
        except discord.HTTPException as exc:
            if exc.status == 429:
                raise RateLimited("discord: rate limited", retry_after=_retry_after(exc)) from exc
            if exc.status >= 500:
                raise RetryableError(f"discord: {exc.status} {exc.text}") from exc
            raise PermanentError(f"discord: {exc.status} {exc.text or exc}") from exc
        except aiohttp.ClientConnectorError as exc:
            raise RetryableError(f"discord unreachable: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Uncertain(f"discord: {exc!r}") from exc

    def render(self, message: OutboundMessage) -> list[str]:
        return chunking.split(buttons_as_text(message), LIMIT - REPEAT_NOTE_ROOM)

    @staticmethod
    def channel_of(dest: Destination) -> int:
        """Threads are channels on Discord: a thread's own id is where to post."""
        return snowflake(dest.thread_id or dest.chat_id)

    async def post(
        self, message: OutboundMessage, index: int, total: int, chunk: str, repeat: bool
    ) -> str:
        http = await self._client()
        channel = self.channel_of(message.destination)
        reply = await self.reply_target(message) if index == 0 else None
        params = handle_message_parameters(
            content=chunk,
            nonce=derive_id(message.id, str(index))[:25],
            allowed_mentions=MENTIONS,
            message_reference={
                "message_id": snowflake(reply),
                "channel_id": channel,
                "fail_if_not_exists": False,
            }
            if reply
            else discord.utils.MISSING,
        )
        data = await self._guard(http.send_message(channel, params=params))
        return str(data["id"])

    async def edit(self, dest: Destination, platform_id: str, chunk: str) -> None:
        http = await self._client()
        params = handle_message_parameters(content=chunk, allowed_mentions=MENTIONS)
        await self._guard(
            http.edit_message(self.channel_of(dest), snowflake(platform_id), params=params)
        )

    async def delete(self, dest: Destination, platform_id: str) -> None:
        http = await self._client()
        try:
            await self._guard(http.delete_message(self.channel_of(dest), snowflake(platform_id)))
        except PermanentError as exc:
            log.warning("discord delete refused", extra={"reason": str(exc)})

    async def react(self, dest: Destination, platform_id: str, emoji: str) -> None:
        http = await self._client()
        await self._guard(
            http.add_reaction(self.channel_of(dest), snowflake(platform_id), emoji.strip(":"))
        )

    async def typing(self, dest: Destination) -> None:
        http = await self._client()
        await self._guard(http.send_typing(self.channel_of(dest)))
