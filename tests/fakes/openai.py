"""A fake OpenAI-compatible ``/v1/chat/completions`` (as Ollama, vLLM, llama.cpp serve it)."""

from __future__ import annotations

import itertools
import json
from collections import deque
from typing import Any

from aiohttp import web

Body = dict[str, Any]
_ids = itertools.count(1)


def completion(content: str | None = None, *calls: tuple[str, Body], cached: int = 0) -> Body:
    message: Body = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{next(_ids)}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for name, args in calls
        ]
    usage: Body = {"prompt_tokens": 50, "completion_tokens": 5}
    if cached:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "model": "llama3.2",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": usage,
    }


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: deque[tuple[int, Body, dict[str, str]]] = deque()
        self.requests: list[Body] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def push(self, body: Body, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.script.append((status, body, headers or {}))

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _complete(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        status, body, headers = self.script.popleft()
        return web.json_response(body, status=status, headers=headers)
