"""The Slack Events API endpoint, ``POST /slack/events``.

Every request is checked against the signing secret (HMAC-SHA256 over
``v0:<timestamp>:<body>``) within a 5-minute window. ``url_verification`` is answered with
its challenge. Retries (``X-Slack-Retry-Num``) are processed like first deliveries: the
deterministic message id makes the lane accept the message once.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from slack_sdk.signature import SignatureVerifier

from common.errors import Rejected
from ingest.api import read_body
from ingest.channels.slack.intake import SlackIntake


def slack_router(intake: SlackIntake, signing_secret: str, *, max_bytes: int) -> APIRouter:
    router = APIRouter()
    verifier = SignatureVerifier(signing_secret)

    @router.post("/slack/events")
    async def events(request: Request) -> JSONResponse:
        body = await read_body(request, max_bytes)
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not verifier.is_valid(body, timestamp, signature):
            raise Rejected("invalid or expired Slack signature", status=401)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Rejected("the body is not JSON", status=400) from exc
        if payload.get("type") == "url_verification":
            return JSONResponse({"challenge": payload.get("challenge", "")})
        accepted = await intake.handle(payload, request.headers.get("x-trace-id"))
        result: dict[str, object] = {"ok": True}
        if accepted is not None:
            result.update(message_id=accepted.message_id, duplicate=accepted.duplicate)
        retry = request.headers.get("x-slack-retry-num")
        if retry is not None:
            result["retry"] = retry
        return JSONResponse(result)

    return router
