"""``POST /telegram/webhook``: updates pushed by Telegram, checked by the secret header.

Telegram sends the ``secret_token`` given to ``setWebhook`` in
``X-Telegram-Bot-Api-Secret-Token``; anything else is refused. A non-2xx answer makes
Telegram resend the update, which the lane's dedup then accepts once.
"""

from __future__ import annotations

import hmac

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from common.errors import Rejected
from ingest.api import read_body
from ingest.channels.telegram.intake import TelegramIntake


def telegram_router(intake: TelegramIntake, secret: str, *, max_bytes: int) -> APIRouter:
    router = APIRouter()

    @router.post("/telegram/webhook")
    async def webhook(request: Request) -> JSONResponse:
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise Rejected("missing or wrong X-Telegram-Bot-Api-Secret-Token", status=401)
        body = await read_body(request, max_bytes)
        try:
            update = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Rejected("the body is not JSON", status=400) from exc
        if not isinstance(update, dict):
            raise Rejected("an update is a JSON object", status=400)
        accepted = await intake.handle(update, request.headers.get("x-trace-id"))
        return JSONResponse({"ok": True, "duplicate": bool(accepted and accepted.duplicate)})

    return router
