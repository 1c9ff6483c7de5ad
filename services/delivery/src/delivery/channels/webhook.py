"""The generic HTTP channel, outbound: a signed POST to the configured webhook URL.

The receiver verifies ``X-Clawbus-Signature: v1=<hex>``, an HMAC-SHA256 with the shared
secret over ``<X-Clawbus-Timestamp>.<raw body>``, and rejects old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import orjson

from common.errors import Misconfigured, PermanentError, RateLimited, RetryableError
from common.messages import DeliveryReceipt, OutboundMessage

# answers that say the address or the signature is wrong, not this message: kept for replay
MISCONFIGURED = {401, 403, 404, 405}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, max_age_s: int = 300
) -> bool:
    """What a receiver does: constant-time compare and a replay window."""
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return False
    return age <= max_age_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


class WebhookChannel:
    name = "http"

    def __init__(self, url: str, secret: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self.secret = secret
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def start(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        body = orjson.dumps(
            {
                "id": message.id,
                "action": message.action,
                "conversation_id": message.destination.chat_id,
                "thread_id": message.destination.thread_id,
                "agent": message.agent,
                "text": message.text,
                "reply_to": message.reply_to,
                "target_id": message.target_id,
                "emoji": message.emoji,
                "buttons": [b.model_dump() for b in message.buttons],
                "possible_duplicate": message.possible_duplicate,
            }
        )
        ts = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "x-clawbus-timestamp": ts,
            "x-clawbus-signature": sign(self.secret, ts, body),
            "x-clawbus-delivery": message.id,
        }
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise RetryableError(f"webhook unreachable: {exc}") from exc
        status = response.status_code
        if status == 429:
            raise RateLimited("webhook rate limited", retry_after=_retry_after(response) or 1.0)
        if status >= 500 or status == 408:
            raise RetryableError(f"webhook answered {status}", retry_after=_retry_after(response))
        if status in MISCONFIGURED:
            raise Misconfigured(
                f"webhook refused with {status} (check CLAWBUS_WEBHOOK_URL and "
                f"CLAWBUS_WEBHOOK_SECRET): {response.text[:200]}"
            )
        if status >= 400:
            raise PermanentError(f"webhook refused with {status}: {response.text[:200]}")
        return DeliveryReceipt(platform_ids=[message.id])

    async def aclose(self) -> None:
        await self.client.aclose()
