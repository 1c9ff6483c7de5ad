"""The HTTP API: ``POST /v1/messages`` for the generic HTTP channel."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common import metrics
from common.envelope import now_ms
from common.errors import DependencyDown, Rejected, RetryableError
from common.messages import InboundMessage, Sender
from ingest.publisher import Backpressure, Publisher, message_id


class SenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=256)
    name: str | None = Field(default=None, max_length=256)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_id: str = Field(min_length=1, max_length=256, pattern=r"^[^\s]+$")
    sender: SenderIn
    text: str = Field(min_length=1)
    thread_id: str | None = Field(default=None, max_length=256)
    message_id: str | None = Field(
        default=None, max_length=256, description="the platform's id; repeats are accepted once"
    )
    is_mention: bool = False


def channel_of(path: str) -> str:
    """The channel a request path belongs to (a bounded label value)."""
    for prefix, channel in (("/v1/", "http"), ("/slack", "slack"), ("/telegram", "telegram")):
        if path.startswith(prefix):
            return channel
    return "other"


def error(status: int, reason: str, *, retry_after: float | None = None) -> JSONResponse:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


def install_errors(app: FastAPI) -> None:
    @app.exception_handler(Rejected)
    async def rejected(request: Request, exc: Rejected) -> JSONResponse:
        metrics.INGEST_REQUESTS.labels(channel_of(request.url.path), "rejected").inc()
        return error(exc.status, str(exc))

    @app.exception_handler(Backpressure)
    async def backpressure(_: Request, exc: Backpressure) -> JSONResponse:
        return error(429, str(exc), retry_after=exc.retry_after)

    @app.exception_handler(DependencyDown)
    async def down(_: Request, exc: DependencyDown) -> JSONResponse:
        return error(
            503, "not accepted: storage unavailable, retry later", retry_after=exc.retry_after
        )

    @app.exception_handler(RetryableError)
    async def retryable(_: Request, exc: RetryableError) -> JSONResponse:
        return error(503, str(exc), retry_after=exc.retry_after or 1)


def check_bearer(request: Request, token: str | None) -> None:
    if token is None:
        raise Rejected("the HTTP channel is disabled: set CLAWBUS_INGEST_TOKEN", status=403)
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Rejected("missing or wrong bearer token", status=401)


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise Rejected(f"body of {length} bytes is over the limit of {limit}", status=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Rejected(f"body is over the limit of {limit} bytes", status=413)
    return body


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def http_router(publisher: Publisher, *, token: str | None, max_bytes: int) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/messages", status_code=202)
    async def post_message(request: Request) -> JSONResponse:
        check_bearer(request, token)
        body = await read_body(request, max_bytes)
        try:
            data = MessageIn.model_validate_json(body)
        except ValidationError as exc:
            raise Rejected(f"invalid message: {describe(exc)}", status=422) from exc
        msg = InboundMessage(
            channel="http",
            chat_id=data.conversation_id,
            thread_id=data.thread_id,
            message_id=message_id("http", data.conversation_id, data.message_id),
            platform_message_id=data.message_id,
            sender=Sender(id=data.sender.id, name=data.sender.name),
            text=data.text,
            sent_ms=now_ms(),
            is_mention=data.is_mention,
            is_dm=True,
        )
        accepted = await publisher.accept(msg, request.headers.get("x-trace-id"))
        return JSONResponse(
            {
                "message_id": accepted.message_id,
                "duplicate": accepted.duplicate,
                "trace_id": accepted.trace_id,
            },
            status_code=202,
        )

    return router
