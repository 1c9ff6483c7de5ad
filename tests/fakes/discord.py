"""A loopback Discord REST API (v10) for discord.py's HTTP client.

Like Discord: content over 2,000 characters is refused (50035), a repeated ``nonce`` with
``enforce_nonce`` returns the first message instead of a new one, and a 429 carries the
``Via`` header and a JSON ``retry_after`` that discord.py reads.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import web

from tests.fakes.vendor import Call, Scripted, VendorFake

TOKEN = "MTAw.fake.token"
BOT_USER = {
    "id": "900",
    "username": "clawbot",
    "discriminator": "0",
    "avatar": None,
    "bot": True,
    "global_name": "Claw",
}


class FakeDiscord(VendorFake):
    def __init__(self) -> None:
        super().__init__()
        self.ids = itertools.count(5000)
        self.messages: dict[str, dict[str, Any]] = {}
        self.nonces: dict[str, dict[str, Any]] = {}
        self.reactions: list[tuple[str, str, str]] = []
        self.typing: list[str] = []

    def respond(
        self, body: Any, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        """JSON with the exact content type discord.py looks for."""
        return web.Response(
            body=json.dumps(body).encode(),
            status=status,
            headers=headers,
            content_type="application/json",
        )

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/v10"

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v10/users/@me", self.me)
        r.add_post("/api/v10/channels/{channel}/messages", self.send)
        r.add_patch("/api/v10/channels/{channel}/messages/{message}", self.edit)
        r.add_delete("/api/v10/channels/{channel}/messages/{message}", self.delete)
        r.add_put(
            "/api/v10/channels/{channel}/messages/{message}/reactions/{emoji}/@me", self.react
        )
        r.add_post("/api/v10/channels/{channel}/typing", self.type)

    @staticmethod
    def rate_limited(retry_after: float, times: int = 1) -> Scripted:
        return Scripted(
            429,
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            {
                "Via": "1.1 google",
                "Retry-After": str(retry_after),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Reset-After": str(retry_after),
                "X-RateLimit-Bucket": "b1",
            },
            times,
        )

    @staticmethod
    def missing(times: int = 1) -> Scripted:
        return Scripted(404, {"message": "Unknown Channel", "code": 10003}, times=times)

    async def _begin(self, request: web.Request, method: str) -> tuple[Any, web.Response | None]:
        if request.headers.get("Authorization") != f"Bot {TOKEN}":
            return None, self.respond({"message": "401: Unauthorized", "code": 0}, status=401)
        body = json.loads(await request.text() or "{}") if request.can_read_body else {}
        channel = request.match_info.get("channel")
        self.calls.append(Call(method, {**body, **request.match_info}))
        return body, await self.scripted(method, channel)

    async def me(self, request: web.Request) -> web.Response:
        _, early = await self._begin(request, "me")
        return early or self.respond(BOT_USER)

    def _message(self, channel: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(next(self.ids)),
            "channel_id": channel,
            "content": body.get("content", ""),
            "author": BOT_USER,
            "type": 0,
            "attachments": [],
            "embeds": [],
            "mentions": [],
            "timestamp": "2026-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "message_reference": body.get("message_reference"),
        }

    async def send(self, request: web.Request) -> web.Response:
        body, early = await self._begin(request, "send")
        if early:
            return early
        if len(body.get("content", "")) > 2000:
            return self.respond({"message": "Invalid Form Body", "code": 50035}, status=400)
        nonce = body.get("nonce")
        if nonce and body.get("enforce_nonce") and nonce in self.nonces:
            return self.respond(self.nonces[nonce])
        msg = self._message(request.match_info["channel"], body)
        self.messages[msg["id"]] = msg
        if nonce:
            self.nonces[nonce] = msg
        return self.respond(msg)

    async def edit(self, request: web.Request) -> web.Response:
        body, early = await self._begin(request, "edit")
        if early:
            return early
        msg = self.messages.get(request.match_info["message"])
        if msg is None:
            return self.respond({"message": "Unknown Message", "code": 10008}, status=404)
        msg["content"] = body.get("content", msg["content"])
        return self.respond(msg)

    async def delete(self, request: web.Request) -> web.Response:
        _, early = await self._begin(request, "delete")
        if early:
            return early
        self.messages.pop(request.match_info["message"], None)
        return web.Response(status=204)

    async def react(self, request: web.Request) -> web.Response:
        _, early = await self._begin(request, "react")
        if early:
            return early
        m = request.match_info
        self.reactions.append((m["channel"], m["message"], m["emoji"]))
        return web.Response(status=204)

    async def type(self, request: web.Request) -> web.Response:
        _, early = await self._begin(request, "typing")
        if early:
            return early
        self.typing.append(request.match_info["channel"])
        return web.Response(status=204)

    def sent(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [
            c.params
            for c in self.calls
            if c.method == "send" and (channel is None or c.params.get("channel") == channel)
        ]
