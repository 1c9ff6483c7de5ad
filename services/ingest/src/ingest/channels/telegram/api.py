"""The few Bot API calls ingest makes (httpx): who am I, updates, files, button answers."""

from __future__ import annotations

from typing import Any

import httpx

from common.errors import PermanentError, RateLimited, RetryableError


class TelegramRefused(PermanentError):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(f"telegram: {status} {description}")
        self.status = status
        self.description = description


class TelegramAPI:
    def __init__(self, token: str, *, api_url: str, timeout_s: float = 15.0) -> None:
        base = api_url.rstrip("/")
        self.files = f"{base}/file/bot{token}/"
        self.bot_id = token.split(":", 1)[0]
        self.client = httpx.AsyncClient(base_url=f"{base}/bot{token}/", timeout=timeout_s)

    async def call(
        self, method: str, payload: dict[str, Any], *, timeout_s: float | None = None
    ) -> Any:
        timeout = httpx.Timeout(timeout_s) if timeout_s is not None else self.client.timeout
        try:
            response = await self.client.post(method, json=payload, timeout=timeout)
        except httpx.TransportError as exc:
            raise RetryableError(f"telegram {method}: {exc!r}") from exc
        try:
            data = response.json()
        except ValueError:
            data = {"ok": False, "description": response.text[:200]}
        if data.get("ok"):
            return data.get("result")
        status = int(data.get("error_code") or response.status_code)
        description = str(data.get("description") or f"HTTP {status}")
        if status == 429:
            after = (data.get("parameters") or {}).get("retry_after") or 1
            raise RateLimited(f"telegram {method}: {description}", retry_after=float(after))
        if status >= 500:
            raise RetryableError(f"telegram {method}: {description}")
        raise TelegramRefused(status, description)

    async def file_url(self, file_id: str) -> tuple[str, int | None]:
        """Where to download a file (valid for an hour) and its size if Telegram knows it."""
        info = await self.call("getFile", {"file_id": file_id})
        return self.files + str(info["file_path"]), info.get("file_size")

    async def aclose(self) -> None:
        await self.client.aclose()
