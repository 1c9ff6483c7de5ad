"""The built-in web chat: a page, and a WebSocket per browser tab.

Every message of a conversation, the person's and the agent's, is kept in the
conversation's history stream; its stream id is the message's position. A tab that
reconnects says the last id it has, gets what it missed, and drops ids it has seen, so
a dropped socket neither loses nor repeats messages. Replies come from delivery through
the web chat event stream, which every ingest replica tails while it has a socket open.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import secrets
from collections import defaultdict
from importlib import resources

import orjson
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.bus import Streams
from common.envelope import derive_id, now_ms
from common.errors import ClawbusError, Rejected
from common.keys import Keys
from common.messages import InboundMessage, Sender
from ingest.publisher import Publisher

log = logging.getLogger("clawbus.webchat")

CONVERSATION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
USER = CONVERSATION
DEFAULT_USER = "webuser"
HISTORY_MAXLEN = 2000
HISTORY_ON_CONNECT = 200
TITLE_CHARS = 60
OFF = "the web chat is off: set CLAWBUS_WEBCHAT_TOKEN"


PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def history_frame(entry_id: str, fields: dict[str, str]) -> dict[str, object]:
    return {
        "type": fields.get("kind", "message"),
        "id": entry_id,
        "role": fields.get("role", "agent"),
        "text": fields.get("text", ""),
        "agent": fields.get("agent", ""),
        "ts": int(fields.get("ts", "0") or 0),
        "possible_duplicate": fields.get("possible_duplicate") == "1",
        "client_id": fields.get("client_id", ""),
    }


class Conversations:
    """Each user's conversations, kept server-side so a new browser finds them again.

    A hash per user: conversation id -> ``{"title", "updated_ms"}`` as JSON.
    """

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def touch(self, user: str, conv: str, *, title: str | None = None) -> None:
        key = self.keys.webchat_conversations(user)
        raw = await self.redis.hget(key, conv)
        known = orjson.loads(raw) if raw else {"title": ""}
        if title and not known.get("title"):
            known["title"] = title
        elif raw and not title:
            return
        known["updated_ms"] = now_ms()
        await self.redis.hset(key, conv, orjson.dumps(known))

    async def list(self, user: str) -> list[dict[str, object]]:
        raw = await self.redis.hgetall(self.keys.webchat_conversations(user))
        items = [
            {"id": k.decode() if isinstance(k, bytes) else k, **orjson.loads(v)}
            for k, v in raw.items()
        ]
        items.sort(key=lambda c: -int(c.get("updated_ms", 0)))
        return items


class WebChatHub:
    def __init__(
        self,
        streams: Streams,
        keys: Keys,
        publisher: Publisher,
        *,
        token: str | None,
    ) -> None:
        self.streams = streams
        self.keys = keys
        self.publisher = publisher
        self.token = token
        self.sockets: dict[str, set[WebSocket]] = defaultdict(set)
        self.conversations = Conversations(streams.redis, keys)
        # With no socket open the feed is not read at all; the first socket to open marks
        # where the tail resumes, before its history is replayed, so nothing falls between.
        self.tailing = False
        self._resume_at: str | None = None
        self._joined = asyncio.Event()

    def authorised(self, given: str | None) -> bool:
        """Off without a token: ingest listens on every interface, and an open web chat
        would let anyone who reaches it talk to the agents and their tools."""
        if self.token is None or given is None:
            return False
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def tail(self, stop: asyncio.Event) -> None:
        """Push every web chat event to the sockets of its conversation, while any is open."""
        last: str | None = None
        while not stop.is_set():
            if not self.sockets:
                self.tailing = False
                last = None
                self._joined.clear()
                await _first(stop, self._joined)
                continue
            if last is None:
                if self._resume_at is None:
                    await _first(stop, self._joined)  # a socket is marking where to resume
                    continue
                last, self._resume_at = self._resume_at, None
                self.tailing = True
            try:
                rows = await self.streams.tail(self.keys.webchat_events, last, block_ms=1000)
            except (RedisError, OSError):
                await asyncio.sleep(1)
                continue
            for entry_id, fields in rows:
                last = entry_id
                conv = fields.get("conv", "")
                frame = history_frame(fields.get("id", entry_id), fields)
                for ws in list(self.sockets.get(conv, ())):
                    with contextlib.suppress(Exception):
                        await ws.send_text(orjson.dumps(frame).decode())

    async def handle(self, ws: WebSocket) -> None:
        params = ws.query_params
        conv = params.get("conversation", "main")
        user = params.get("user") or DEFAULT_USER
        refusal = None
        if self.token is None:
            refusal = (4403, OFF)
        elif not self.authorised(params.get("token")):
            refusal = (4401, "missing or wrong token")
        elif not CONVERSATION.match(conv) or not USER.match(user):
            refusal = (4400, "conversation and user must be 1-64 of A-Z a-z 0-9 _ . -")
        await ws.accept()  # accepted first, so the browser sees why it is closed
        if refusal is not None:
            await ws.close(code=refusal[0], reason=refusal[1])
            return
        try:
            await self.join(conv, ws)
            await self.conversations.touch(user, conv)
            await self._replay(ws, conv, params.get("after"))
            while True:
                raw = await ws.receive_text()
                await self._inbound(ws, conv, raw, user, params.get("name") or user)
        except WebSocketDisconnect:
            pass
        finally:
            self.leave(conv, ws)

    async def join(self, conv: str, ws: WebSocket) -> None:
        """Start pushing ``conv``'s events to ``ws``; call before replaying its history."""
        self.sockets[conv].add(ws)
        if not self.tailing:
            mark = await self.streams.last_id(self.keys.webchat_events)
            if self._resume_at is None or _stream_id(mark) < _stream_id(self._resume_at):
                self._resume_at = mark
            self._joined.set()

    def leave(self, conv: str, ws: WebSocket) -> None:
        self.sockets[conv].discard(ws)
        if not self.sockets[conv]:
            self.sockets.pop(conv, None)

    async def _replay(self, ws: WebSocket, conv: str, after: str | None) -> None:
        stream = self.keys.webchat_history(conv)
        if after:
            rows = await self.streams.range(stream, after=after, count=HISTORY_MAXLEN)
        else:
            rows = await self.streams.last(stream, HISTORY_ON_CONNECT)
        frames = [history_frame(i, f) for i, f in rows]
        await ws.send_text(orjson.dumps({"type": "history", "messages": frames}).decode())

    async def _inbound(self, ws: WebSocket, conv: str, raw: str, user: str, name: str) -> None:
        try:
            data = orjson.loads(raw)
            text = str(data["text"]).strip()
            client_id = str(data.get("client_id") or "")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await self._error(ws, "frames must be JSON objects with a text field")
            return
        if not text:
            return
        if len(text.encode()) > self.publisher.max_bytes:
            await self._error(ws, f"message is over {self.publisher.max_bytes} bytes")
            return
        msg = InboundMessage(
            channel="web",
            chat_id=conv,
            message_id=derive_id("in", "web", conv, client_id)
            if client_id
            else derive_id("in", "web", conv, str(now_ms()), text),
            platform_message_id=client_id or None,
            sender=Sender(id=user, name=name),
            text=text,
            sent_ms=now_ms(),
            is_dm=True,
        )
        try:
            accepted = await self.publisher.accept(msg)
        except ClawbusError as exc:
            await self._error(ws, str(exc), client_id=client_id)
            return
        if not accepted.duplicate:
            fields = {
                "kind": "message",
                "role": "user",
                "text": text,
                "ts": str(msg.sent_ms),
                "agent": "",
                "client_id": client_id,
                "user": user,
            }
            await self.streams.append_linked(
                (self.keys.webchat_history(conv), HISTORY_MAXLEN),
                (self.keys.webchat_events, 10_000),
                fields,
                {"conv": conv},
            )
            await self.conversations.touch(user, conv, title=text[:TITLE_CHARS])
        await ws.send_text(
            orjson.dumps(
                {"type": "ack", "client_id": client_id, "message_id": msg.message_id}
            ).decode()
        )

    @staticmethod
    async def _error(ws: WebSocket, reason: str, client_id: str = "") -> None:
        await ws.send_text(
            orjson.dumps({"type": "error", "error": reason, "client_id": client_id}).decode()
        )


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def _first(stop: asyncio.Event, event: asyncio.Event) -> None:
    """Wait until either event is set."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(event.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def webchat_router(hub: WebChatHub) -> APIRouter:
    router = APIRouter()
    page = resources.files("ingest").joinpath("static/index.html").read_text()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    def caller(request: Request) -> str:
        given = request.query_params.get("token")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            given = auth[len("Bearer ") :]
        if hub.token is None:
            raise Rejected(OFF, status=403)
        if not hub.authorised(given):
            raise Rejected("missing or wrong web chat token", status=401)
        user = request.query_params.get("user") or DEFAULT_USER
        if not USER.match(user):
            raise Rejected("user must be 1-64 of A-Z a-z 0-9 _ . -", status=400)
        return user

    @router.get("/webchat/conversations")
    async def list_conversations(request: Request) -> dict[str, object]:
        return {"conversations": await hub.conversations.list(caller(request))}

    @router.post("/webchat/conversations", status_code=201)
    async def create_conversation(request: Request) -> dict[str, object]:
        user = caller(request)
        conv = f"c{now_ms():x}{secrets.token_hex(3)}"
        await hub.conversations.touch(user, conv)
        return {"id": conv}

    @router.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await hub.handle(ws)

    return router
