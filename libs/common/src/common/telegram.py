"""Reading Telegram Bot API answers, shared by ingest (updates, files) and delivery (sends).

Every Bot API call answers ``{"ok": bool, "result" | "error_code" + "description"}``;
this maps the answer onto clawbus's errors. Transport failures stay with the caller,
which alone knows whether a request that may have arrived is safe to repeat.
"""

from __future__ import annotations

from typing import Any

import httpx

from common.errors import PermanentError, RateLimited, RetryableError


class TelegramRefused(PermanentError):
    """Telegram answered ``ok: false`` with a 4xx: ``description`` says why."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(f"telegram: {status} {description}")
        self.status = status
        self.description = description


def bot_api_result(method: str, response: httpx.Response) -> Any:
    """The ``result`` of a Bot API answer, or the error it stands for."""
    try:
        data = response.json()
    except ValueError:
        data = {"ok": False, "description": response.text[:200]}
    if data.get("ok"):
        return data.get("result")
    status = int(data.get("error_code") or response.status_code)
    description = str(data.get("description") or f"HTTP {status}")
    if status == 429:
        after = (data.get("parameters") or {}).get("retry_after")
        after = after or response.headers.get("retry-after") or 1
        raise RateLimited(f"telegram {method}: {description}", retry_after=float(after))
    if status >= 500:
        raise RetryableError(f"telegram {method}: {description}")
    raise TelegramRefused(status, description)
