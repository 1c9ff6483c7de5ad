"""A fake Anthropic Messages API on loopback, for the real ``anthropic`` SDK (``base_url``).

Script it with answers in order: ``reply(text("hi"), tool_use("send_message", {...}))``,
``error(429, retry_after=2)``, or a function of the request body. Requests beyond the
script get ``fallback`` (by default a 500 that names the problem). Every request body is
kept in ``requests`` (and its arrival in ``times``), so tests can check what the model
was shown, and when.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Body = dict[str, Any]
_ids = itertools.count(1)


@dataclass
class Answer:
    status: int = 200
    body: Body = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Script = Answer | Callable[[Body], Answer]


def text(value: str) -> Body:
    return {"type": "text", "text": value}


def tool_use(name: str, input: Body, id: str | None = None) -> Body:
    return {"type": "tool_use", "id": id or f"toolu_{next(_ids):04d}", "name": name, "input": input}


def reply(
    *blocks: Body,
    stop_reason: str | None = None,
    usage: dict[str, int] | None = None,
    delay_s: float = 0.0,
) -> Answer:
    """A successful answer; ``model`` is filled in from the request."""
    uses = any(b["type"] == "tool_use" for b in blocks)
    return Answer(
        body={
            "type": "message",
            "role": "assistant",
            "content": list(blocks),
            "stop_reason": stop_reason or ("tool_use" if uses else "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 20} | (usage or {}),
        },
        delay_s=delay_s,
    )


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error(status: int, message: str = "", *, retry_after: float | None = None) -> Answer:
    kind = ERROR_TYPES.get(status, "api_error")
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    body = {"type": "error", "error": {"type": kind, "message": message or kind}}
    return Answer(status=status, body=body, headers=headers)


class FakeAnthropic:
    def __init__(self) -> None:
        self.script: deque[Script] = deque()
        self.requests: list[Body] = []
        self.times: list[float] = []  # time.monotonic() of each request
        self.fallback: Script = error(500, "the fake's script is exhausted")
        self.url = ""
        self._runner: web.AppRunner | None = None

    def push(self, *answers: Script) -> None:
        self.script.extend(answers)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _messages(self, request: web.Request) -> web.Response:
        body: Body = await request.json()
        self.requests.append(body)
        self.times.append(time.monotonic())
        item = self.script.popleft() if self.script else self.fallback
        answer = item(body) if callable(item) else item
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        payload = answer.body
        if answer.status == 200:
            payload = {"id": f"msg_{next(_ids):06d}", "model": body["model"]} | payload
        return web.json_response(payload, status=answer.status, headers=answer.headers)
