"""Fetching attachments so the agent can see images: size-capped, never fatal."""

from __future__ import annotations

import base64
import logging
from typing import Literal

import httpx

log = logging.getLogger("clawbus.ingest.downloads")


Kind = Literal["image", "file", "audio", "video", "other"]


def attachment_kind(mime: str | None) -> Kind:
    major = (mime or "").split("/", 1)[0]
    if major == "image":
        return "image"
    if major == "audio":
        return "audio"
    if major == "video":
        return "video"
    return "file"


async def fetch_b64(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    headers: dict[str, str] | None = None,
) -> str | None:
    """The body of ``url`` as base64, or None when it is bigger than ``max_bytes`` or fails."""
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                log.warning("download refused", extra={"status": response.status_code})
                return None
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                return None
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    return None
    except httpx.HTTPError as exc:
        log.warning("download failed", extra={"error": repr(exc)})
        return None
    return base64.b64encode(body).decode()
