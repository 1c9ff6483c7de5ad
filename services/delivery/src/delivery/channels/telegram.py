"""Telegram Bot API, outbound: HTML parse mode, replies, edits, reactions, typing, buttons.

Button values longer than Telegram's 64-byte ``callback_data`` are kept in Redis under
``keys.kv("telegram:button:<hash>")`` and sent as ``#b:<hash>``; ingest resolves them when
the button is pressed.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from redis.asyncio import Redis

from common.envelope import derive_id
from common.errors import Misconfigured, PermanentError, RetryableError
from common.keys import Keys
from common.messages import Destination, OutboundMessage
from common.telegram import TelegramRefused, bot_api_result
from delivery import chunking
from delivery.channels.ledger import Ledger, Uncertain
from delivery.channels.platform import REPEAT_NOTE_ROOM, PlatformChannel
from delivery.formatting.telegram import to_html

log = logging.getLogger("clawbus.delivery.telegram")

LIMIT = 4096
CALLBACK_MAX = 64
BUTTON_PREFIX = "#b:"
BUTTON_TTL_S = 30 * 24 * 3600
REPEAT_NOTE = "\n\n<i>(this may repeat an earlier message)</i>"
SUCCESS_ANYWAY = ("message is not modified",)
PARSE_ERROR = "can't parse entities"


def number(value: str) -> int:
    """Telegram message and topic ids are integers; anything else can never succeed."""
    try:
        return int(value)
    except ValueError:
        raise PermanentError(f"telegram: {value!r} is not a message or topic id") from None


Refused = TelegramRefused  # Telegram answered ok: false with a 4xx


class TelegramChannel(PlatformChannel):
    name = "telegram"

    def __init__(
        self,
        token: str,
        *,
        api_url: str,
        ledger: Ledger,
        redis: Redis,
        keys: Keys,
        problems: dict[str, str],
        timeout_s: float = 15.0,
    ) -> None:
        super().__init__(ledger, problems)
        self.redis = redis
        self.keys = keys
        self.client = httpx.AsyncClient(
            base_url=f"{api_url.rstrip('/')}/bot{token}/", timeout=timeout_s
        )

    async def start(self) -> None:
        try:
            me = await self.call("getMe", {})
            log.info("telegram ready", extra={"bot": me.get("username")})
        except PermanentError as exc:
            self.problems["telegram"] = f"the bot token was refused ({exc}); check it"
            log.error("telegram disabled", extra={"reason": str(exc)})
        except RetryableError as exc:
            log.warning("telegram not reachable yet", extra={"reason": str(exc)})

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(self, method: str, payload: dict[str, Any]) -> Any:
        try:
            response = await self.client.post(method, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise RetryableError(f"telegram unreachable: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise Uncertain(f"telegram {method}: {exc!r}") from exc
        try:
            return bot_api_result(method, response)
        except TelegramRefused as exc:
            if exc.status == 401:
                self.problems["telegram"] = "the bot token was refused (401); check it"
                raise Misconfigured(f"{exc} (check CLAWBUS_TELEGRAM_BOT_TOKEN)") from exc
            raise

    def render(self, message: OutboundMessage) -> list[str]:
        return chunking.split(message.text, LIMIT - REPEAT_NOTE_ROOM)

    async def post(
        self, message: OutboundMessage, index: int, total: int, chunk: str, repeat: bool
    ) -> str:
        dest = message.destination
        payload: dict[str, Any] = {"chat_id": dest.chat_id}
        if dest.thread_id:
            payload["message_thread_id"] = number(dest.thread_id)
        reply = await self.reply_target(message) if index == 0 else None
        if reply:
            payload["reply_parameters"] = {
                "message_id": number(reply),
                "allow_sending_without_reply": True,
            }
        if index == total - 1 and message.buttons:
            payload["reply_markup"] = await self.keyboard(message)
        result = await self._with_fallback(
            "sendMessage", payload, chunk, REPEAT_NOTE if repeat else ""
        )
        return str(result["message_id"])

    async def _with_fallback(
        self, method: str, payload: dict[str, Any], chunk: str, note: str = ""
    ) -> Any:
        try:
            return await self.call(
                method, {**payload, "text": to_html(chunk) + note, "parse_mode": "HTML"}
            )
        except Refused as exc:
            if PARSE_ERROR not in exc.description:
                raise
        log.warning("telegram refused the HTML; sending plain text")
        return await self.call(method, {**payload, "text": chunk})

    async def keyboard(self, message: OutboundMessage) -> dict[str, Any]:
        rows = []
        for button in message.buttons:
            data = button.value
            if len(data.encode()) > CALLBACK_MAX or data.startswith(BUTTON_PREFIX):
                digest = derive_id("button", button.value)[:20]
                await self.redis.set(
                    self.keys.kv(f"telegram:button:{digest}"), button.value, ex=BUTTON_TTL_S
                )
                data = BUTTON_PREFIX + digest
            rows.append([{"text": button.label[:64], "callback_data": data}])
        return {"inline_keyboard": rows}

    async def edit(self, dest: Destination, platform_id: str, chunk: str) -> None:
        payload = {"chat_id": dest.chat_id, "message_id": number(platform_id)}
        try:
            await self._with_fallback("editMessageText", payload, chunk)
        except Refused as exc:
            if not any(s in exc.description for s in SUCCESS_ANYWAY):
                raise

    async def delete(self, dest: Destination, platform_id: str) -> None:
        try:
            await self.call(
                "deleteMessage", {"chat_id": dest.chat_id, "message_id": number(platform_id)}
            )
        except Refused as exc:
            log.warning("telegram delete refused", extra={"reason": exc.description})

    async def react(self, dest: Destination, platform_id: str, emoji: str) -> None:
        await self.call(
            "setMessageReaction",
            {
                "chat_id": dest.chat_id,
                "message_id": number(platform_id),
                "reaction": [{"type": "emoji", "emoji": emoji}],
            },
        )

    async def typing(self, dest: Destination) -> None:
        payload: dict[str, Any] = {"chat_id": dest.chat_id, "action": "typing"}
        if dest.thread_id:
            payload["message_thread_id"] = number(dest.thread_id)
        await self.call("sendChatAction", payload)
