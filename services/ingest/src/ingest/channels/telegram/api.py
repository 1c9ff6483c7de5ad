"""The few Bot API calls ingest makes (httpx): who am I, updates, files, button answers."""

from __future__ import annotations

from typing import Any

import httpx

from common.errors import RetryableError
from common.telegram import TelegramRefused, bot_api_result

__all__ = ["TelegramAPI", "TelegramRefused"]


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
        return bot_api_result(method, response)

    async def file_url(self, file_id: str) -> tuple[str, int | None]:
        """Where to download a file (valid for an hour) and its size if Telegram knows it."""
        info = await self.call("getFile", {"file_id": file_id})
        return self.files + str(info["file_path"]), info.get("file_size")

    async def aclose(self) -> None:
        await self.client.aclose()
