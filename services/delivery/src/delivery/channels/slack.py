"""Slack Web API, outbound: mrkdwn, threads, edits, reactions, buttons as a list.

Slack has no Web API call that shows a bot as typing (only the legacy RTM socket had
one), so ``typing`` does nothing here. A message over 40,000 characters is truncated,
and the rest is sent as chunks of at most 3,000 characters: one section block's limit,
under the 4,000 Slack recommends per message.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from common.errors import Misconfigured, PermanentError, RateLimited, RetryableError
from common.messages import Destination, OutboundMessage
from delivery import chunking
from delivery.channels.emoji import slack_name
from delivery.channels.ledger import Ledger, Uncertain
from delivery.channels.platform import REPEAT_NOTE_ROOM, PlatformChannel, buttons_as_text
from delivery.formatting.slack import to_mrkdwn

log = logging.getLogger("clawbus.delivery.slack")

LIMIT = 3000
MAX_TOTAL = 40_000
REPEAT_NOTE = "\n\n_(this may repeat an earlier message)_"
RETRYABLE = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
ALREADY_DONE = {"already_reacted", "message_not_found_for_delete"}


class SlackChannel(PlatformChannel):
    name = "slack"

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
        self.client = AsyncWebClient(token=token, base_url=api_url, timeout=int(timeout_s))

    async def start(self) -> None:
        try:
            auth = await self.call("auth_test")
            log.info("slack ready", extra={"bot_user": auth.get("user_id")})
        except PermanentError as exc:
            self.problems["slack"] = f"the bot token was refused ({exc}); check it"
            log.error("slack disabled", extra={"reason": str(exc)})
        except RetryableError as exc:
            log.warning("slack not reachable yet", extra={"reason": str(exc)})

    async def call(self, method: str, **kwargs: Any) -> Any:
        try:
            response = await getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            raise self._error(method, exc) from exc
        except aiohttp.ClientConnectorError as exc:
            raise RetryableError(f"slack unreachable: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Uncertain(f"slack {method}: {exc!r}") from exc
        return response.data

    def _error(self, method: str, exc: SlackApiError) -> Exception:
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"HTTP {status}")
        if status == 429 or error == "ratelimited":
            after = float(exc.response.headers.get("retry-after", 1) or 1)
            return RateLimited(f"slack {method}: rate limited", retry_after=after)
        if status >= 500 or error in RETRYABLE:
            return RetryableError(f"slack {method}: {error}")
        if error in {"invalid_auth", "not_authed", "token_revoked", "account_inactive"}:
            self.problems["slack"] = f"the bot token was refused ({error}); check it"
            return Misconfigured(f"slack {method}: {error} (check CLAWBUS_SLACK_BOT_TOKEN)")
        if error == "missing_scope":
            return Misconfigured(f"slack {method}: the app lacks a scope it needs ({error})")
        return PermanentError(f"slack {method}: {error}")

    def render(self, message: OutboundMessage) -> list[str]:
        text = chunking.truncate(to_mrkdwn(buttons_as_text(message)), MAX_TOTAL)
        return chunking.split(text, LIMIT - REPEAT_NOTE_ROOM)

    async def post(
        self, message: OutboundMessage, index: int, total: int, chunk: str, repeat: bool
    ) -> str:
        dest = message.destination
        kwargs: dict[str, Any] = {"channel": dest.chat_id, "text": chunk, "mrkdwn": True}
        if repeat:
            kwargs["text"] += REPEAT_NOTE
        if dest.thread_id:
            kwargs["thread_ts"] = dest.thread_id
        data = await self.call("chat_postMessage", **kwargs)
        return str(data["ts"])

    async def edit(self, dest: Destination, platform_id: str, chunk: str) -> None:
        await self.call("chat_update", channel=dest.chat_id, ts=platform_id, text=chunk)

    async def delete(self, dest: Destination, platform_id: str) -> None:
        try:
            await self.call("chat_delete", channel=dest.chat_id, ts=platform_id)
        except PermanentError as exc:
            log.warning("slack delete refused", extra={"reason": str(exc)})

    async def react(self, dest: Destination, platform_id: str, emoji: str) -> None:
        try:
            await self.call(
                "reactions_add", channel=dest.chat_id, timestamp=platform_id, name=slack_name(emoji)
            )
        except PermanentError as exc:
            if not any(done in str(exc) for done in ALREADY_DONE):
                raise

    async def typing(self, dest: Destination) -> None:
        return None  # no bot typing over the Web API (see the module docstring)
