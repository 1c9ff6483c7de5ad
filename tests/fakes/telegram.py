"""A loopback Telegram Bot API: the calls clawbus makes, checked the way Telegram checks.

``sendMessage``/``editMessageText`` refuse text over 4,096 characters (counted after the
HTML is parsed, in UTF-16 units) and HTML that does not parse (unknown or unbalanced
tags), with Telegram's own error texts. ``getUpdates`` honours ``offset`` (confirming
earlier updates) and long-polls briefly.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from tests.fakes.vendor import Call, Scripted, VendorFake

TOKEN = "123456:TEST-token"
BOT = {"id": 123456, "is_bot": True, "first_name": "Claw", "username": "claw_bot"}
ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "a",
    "blockquote",
    "tg-spoiler",
    "span",
}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in ALLOWED_TAGS:
            self.error = self.error or f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'Unexpected end tag "{tag}"'
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> tuple[str, str | None]:
    """The visible text of a Telegram HTML message, and a parse error if any."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.stack and not checker.error:
        checker.error = f'Can\'t find end tag corresponding to start tag "{checker.stack[-1]}"'
    return "".join(checker.text), checker.error


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram(VendorFake):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.confirmed = 0
        self.ids = itertools.count(1000)
        self.update_ids = itertools.count(1)
        self.messages: dict[tuple[str, int], dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self._new_update = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        app.router.add_post(f"/bot{self.token}/{{method}}", self.api)
        app.router.add_post("/bot{other}/{method}", self.wrong_token)
        app.router.add_get(f"/file/bot{self.token}/{{path:.*}}", self.download)

    def add_update(self, **update: Any) -> int:
        update_id = next(self.update_ids)
        self.updates.append({"update_id": update_id, **update})
        self._new_update.set()
        return update_id

    async def wrong_token(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
        )

    async def download(self, request: web.Request) -> web.Response:
        body = self.files.get(request.match_info["path"])
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="image/jpeg")

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = await request.json() if request.can_read_body else {}
        self.calls.append(Call(method, params))
        answer = await self.scripted(
            method, str(params.get("chat_id")) if "chat_id" in params else None
        )
        if answer is not None:
            return answer
        handler = getattr(self, f"do_{method}", None)
        if handler is None:
            return self.error(404, "Not Found: method not found")
        result = await handler(params)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def error(code: int, description: str, **parameters: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code)

    @staticmethod
    def rate_limited(retry_after: int, times: int = 1) -> Scripted:
        return Scripted(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
            times=times,
        )

    async def do_getMe(self, params: dict[str, Any]) -> Any:
        return BOT

    async def do_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def do_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        if offset:
            self.confirmed = max(self.confirmed, offset - 1)
        wait = min(float(params.get("timeout") or 0), 1.0)
        pending = [u for u in self.updates if u["update_id"] > self.confirmed]
        if not pending and wait:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), wait)
            pending = [u for u in self.updates if u["update_id"] > self.confirmed]
        return pending[:100]

    def _text_error(self, params: dict[str, Any]) -> web.Response | None:
        text = str(params.get("text") or "")
        visible = text
        if params.get("parse_mode") == "HTML":
            visible, problem = parse_html(text)
            if problem:
                return self.error(400, f"Bad Request: can't parse entities: {problem}")
        if not visible.strip():
            return self.error(400, "Bad Request: message text is empty")
        if utf16(visible) > 4096:
            return self.error(400, "Bad Request: message is too long")
        return None

    async def do_sendMessage(self, params: dict[str, Any]) -> Any:
        problem = self._text_error(params)
        if problem:
            return problem
        chat = str(params["chat_id"])
        mid = next(self.ids)
        msg = {
            "message_id": mid,
            "chat": {"id": chat},
            "text": params["text"],
            "from": BOT,
            "date": 1_700_000_000,
        }
        self.messages[(chat, mid)] = msg
        return msg

    async def do_editMessageText(self, params: dict[str, Any]) -> Any:
        problem = self._text_error(params)
        if problem:
            return problem
        key = (str(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            return self.error(400, "Bad Request: message to edit not found")
        if self.messages[key]["text"] == params["text"]:
            return self.error(400, "Bad Request: message is not modified")
        self.messages[key]["text"] = params["text"]
        return self.messages[key]

    async def do_deleteMessage(self, params: dict[str, Any]) -> Any:
        key = (str(params["chat_id"]), int(params["message_id"]))
        if self.messages.pop(key, None) is None:
            return self.error(400, "Bad Request: message to delete not found")
        return True

    async def do_setMessageReaction(self, params: dict[str, Any]) -> Any:
        key = (str(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages and int(params["message_id"]) >= 1000:
            return self.error(400, "Bad Request: message to react not found")
        return True

    async def do_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    async def do_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    async def do_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        path = f"photos/{file_id}.jpg"
        return {"file_id": file_id, "file_path": path, "file_size": len(self.files.get(path, b""))}

    def sent(self, chat_id: str | None = None) -> list[dict[str, Any]]:
        return [
            p for p in self.called("sendMessage") if chat_id is None or str(p["chat_id"]) == chat_id
        ]
