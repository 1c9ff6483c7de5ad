"""A loopback Slack: the Web API methods clawbus calls, private file downloads, and a
Socket Mode WebSocket that pushes event envelopes and records acknowledgements.

Like Slack, ``chat.postMessage`` refuses text over 40,000 characters (``msg_too_long``),
and every method needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.fakes.vendor import Call, Scripted, VendorFake

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
BOT_USER = "UBOT"
BOT_ID = "BBOT"


class FakeSlack(VendorFake):
    def __init__(self) -> None:
        super().__init__()
        self.ts = itertools.count(1)
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.reactions: list[tuple[str, str, str]] = []
        self.files: dict[str, bytes] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.acks: list[str] = []
        self.connections = 0
        self._acked = asyncio.Condition()

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self.api)
        app.router.add_get("/files/{name}", self.download)
        app.router.add_get("/socket", self.socket)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.text()
            if request.content_type == "application/json":
                params.update(json.loads(raw or "{}"))
            else:
                params.update(dict(parse_qsl(raw)))
        return params

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append(Call(method, params))
        auth = request.headers.get("Authorization", "")
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if auth != f"Bearer {expected}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        answer = await self.scripted(method, params.get("channel"))
        if answer is not None:
            return answer
        handler = getattr(self, "do_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        body = handler(params)
        return web.json_response({"ok": "error" not in body, **body})

    @staticmethod
    def rate_limited(retry_after: int, times: int = 1) -> Scripted:
        return Scripted(
            429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}, times
        )

    @staticmethod
    def failing(error: str, times: int = 1) -> Scripted:
        return Scripted(200, {"ok": False, "error": error}, times=times)

    def do_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": BOT_USER, "bot_id": BOT_ID, "team_id": "T1", "user": "claw"}

    def do_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"user": {"id": p["user"], "profile": {"display_name": f"name-{p['user']}"}}}

    def do_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket"}

    def do_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        text = str(p.get("text") or "")
        if len(text) > 40_000:
            return {"error": "msg_too_long"}
        ts = f"1700000000.{next(self.ts):06d}"
        msg = {"ts": ts, "text": text, "thread_ts": p.get("thread_ts")}
        self.messages[(p["channel"], ts)] = msg
        return {"channel": p["channel"], "ts": ts, "message": msg}

    def do_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (p["channel"], p["ts"])
        if key not in self.messages:
            return {"error": "message_not_found"}
        self.messages[key]["text"] = p.get("text")
        return {"channel": p["channel"], "ts": p["ts"]}

    def do_chat_delete(self, p: dict[str, Any]) -> dict[str, Any]:
        if self.messages.pop((p["channel"], p["ts"]), None) is None:
            return {"error": "message_not_found"}
        return {"channel": p["channel"], "ts": p["ts"]}

    def do_reactions_add(self, p: dict[str, Any]) -> dict[str, Any]:
        entry = (p["channel"], p["timestamp"], p["name"])
        if entry in self.reactions:
            return {"error": "already_reacted"}
        self.reactions.append(entry)
        return {}

    async def download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return web.Response(status=403)
        body = self.files.get(request.match_info["name"])
        return web.Response(status=404) if body is None else web.Response(body=body)

    # -- Socket Mode ---------------------------------------------------------------------

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.sockets.append(ws)
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}
        )
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                if "envelope_id" in data:
                    async with self._acked:
                        self.acks.append(data["envelope_id"])
                        self._acked.notify_all()
        self.sockets.remove(ws)
        return ws

    async def push(self, payload: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Send an Events API envelope over the open socket; returns its envelope id."""
        for _ in range(100):
            if self.sockets:
                break
            await asyncio.sleep(0.05)
        envelope_id = uuid.uuid4().hex
        await self.sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": retry_attempt,
                "retry_reason": "",
                "payload": payload,
            }
        )
        return envelope_id

    async def wait_ack(self, envelope_id: str, timeout: float = 10) -> None:
        async with self._acked:
            await asyncio.wait_for(self._acked.wait_for(lambda: envelope_id in self.acks), timeout)
