"""Telegram updates in: normalise, fetch images, publish durably, answer button presses.

Button values too long for ``callback_data`` were stored by delivery under
``keys.kv("telegram:button:<hash>")`` and sent as ``#b:<hash>``; they are resolved here.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from redis.asyncio import Redis

from common.envelope import now_ms
from common.errors import ClawbusError
from common.keys import Keys
from common.messages import InboundMessage
from ingest.channels.downloads import fetch_b64
from ingest.channels.telegram.api import TelegramAPI, TelegramRefused
from ingest.channels.telegram.updates import (
    TelegramBot,
    callback_to_inbound,
    message_to_inbound,
)
from ingest.publisher import Accepted, Publisher

log = logging.getLogger("clawbus.ingest.telegram")

BUTTON_PREFIX = "#b:"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


class TelegramIntake:
    def __init__(
        self,
        api: TelegramAPI,
        publisher: Publisher,
        redis: Redis,
        keys: Keys,
        *,
        max_attachment_bytes: int,
        problems: dict[str, str],
    ) -> None:
        self.api = api
        self.publisher = publisher
        self.redis = redis
        self.keys = keys
        self.max_attachment_bytes = max_attachment_bytes
        self.problems = problems
        self.http = httpx.AsyncClient(timeout=15.0)
        self.identity: TelegramBot | None = None

    async def bot(self) -> TelegramBot:
        """``getMe``, once; a refused token is reported and raised."""
        if self.identity is None:
            try:
                me = await self.api.call("getMe", {})
            except TelegramRefused as exc:
                self.problems["telegram"] = f"getMe refused ({exc.description}); check the token"
                raise
            self.problems.pop("telegram", None)
            self.identity = TelegramBot(id=int(me["id"]), username=str(me.get("username", "")))
        return self.identity

    async def handle(self, update: dict[str, Any], trace_id: str | None = None) -> Accepted | None:
        """Publish what one update carries. Raises when it could not be published."""
        bot = await self.bot()
        query = update.get("callback_query")
        if query:
            return await self._button(query, bot, trace_id)
        msg = message_to_inbound(update, bot)
        if msg is None:
            return None
        return await self.publisher.accept(await self._images(msg), trace_id)

    async def _button(
        self, query: dict[str, Any], bot: TelegramBot, trace_id: str | None
    ) -> Accepted | None:
        data = str(query.get("data") or "")
        if data.startswith(BUTTON_PREFIX):
            stored = await self.redis.get(
                self.keys.kv(f"telegram:button:{data[len(BUTTON_PREFIX) :]}")
            )
            data = stored.decode() if isinstance(stored, bytes) else (stored or "")
        msg = callback_to_inbound(query, data, bot, now_ms=now_ms()) if data else None
        accepted = await self.publisher.accept(msg, trace_id) if msg else None
        try:
            await self.api.call(
                "answerCallbackQuery",
                {
                    "callback_query_id": query["id"],
                    **({} if msg else {"text": "This button has expired."}),
                },
            )
        except ClawbusError as exc:
            log.info("answerCallbackQuery failed", extra={"error": str(exc)})
        return accepted

    async def _images(self, msg: InboundMessage) -> InboundMessage:
        files = []
        for att in msg.attachments:
            small = (att.size or 0) <= self.max_attachment_bytes
            if att.kind == "image" and att.platform_id and small:
                try:
                    url, _ = await self.api.file_url(att.platform_id)
                except ClawbusError as exc:
                    log.info("getFile failed", extra={"error": str(exc)})
                else:
                    data = await fetch_b64(self.http, url, max_bytes=self.max_attachment_bytes)
                    att = att.model_copy(update={"data_b64": data})
            files.append(att)
        return msg.model_copy(update={"attachments": files}) if files else msg

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.api.aclose()
