"""Which chunks of an outbound message are already on the platform, and receipts.

One outbound message can become several platform messages. Before each chunk is sent its
index is marked in flight; after, its platform id is recorded. A retry (after a 429, a
crash, a lost lease) resumes at the first unsent chunk, and only a chunk whose send had
an unknown outcome (a timeout, a crash mid-call) is sent again, flagged as a possible
repeat. Receipts (``keys.receipt(outbound_id)``, a JSON list of platform ids, written by
the delivery handler) let edits and reactions find the platform ids of earlier messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis

from common.errors import PermanentError, RateLimited, RetryableError
from common.keys import Keys
from common.messages import DeliveryReceipt

PROGRESS_TTL_S = 7 * 24 * 3600
RECEIPT_TTL_S = 30 * 24 * 3600

SendChunk = Callable[[int, str, bool], Awaitable[str]]


class Uncertain(RetryableError):
    """The request may have reached the platform (timeout, dropped connection)."""


class Ledger:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def _progress(self, outbound_id: str) -> str:
        return self.keys.kv(f"delivery:progress:{outbound_id}")

    async def send_chunks(
        self, outbound_id: str, chunks: list[str], send: SendChunk
    ) -> DeliveryReceipt:
        """Send the chunks not yet sent, in order; ``send(index, text, possible_repeat)``."""
        key = self._progress(outbound_id)
        raw: Any = await self.redis.hgetall(key)
        ids: list[str] = orjson.loads(raw[b"ids"]) if b"ids" in raw else []
        in_flight = int(raw[b"flight"]) if b"flight" in raw else -1
        for index in range(len(ids), len(chunks)):
            await self.redis.hset(key, "flight", index)
            await self.redis.expire(key, PROGRESS_TTL_S)
            try:
                platform_id = await send(index, chunks[index], index == in_flight)
            except (RateLimited, PermanentError):
                await self.redis.hdel(key, "flight")
                raise
            except Uncertain:
                raise
            except RetryableError:
                await self.redis.hdel(key, "flight")
                raise
            ids.append(platform_id)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, "ids", orjson.dumps(ids))
                pipe.hdel(key, "flight")
                pipe.expire(key, PROGRESS_TTL_S)
                await pipe.execute()
        return DeliveryReceipt(platform_ids=ids)

    async def resolve(self, target: str) -> list[str]:
        """Platform ids of ``target``: an outbound id's receipt, else ``target`` itself."""
        raw = await self.redis.get(self.keys.receipt(target))
        if raw is None:
            return [target]
        ids = orjson.loads(raw)
        if not ids:
            raise PermanentError(f"message {target} has no platform message to act on")
        return [str(i) for i in ids]

    async def rewrite(self, target: str, ids: list[str]) -> None:
        """After an edit changed how many platform messages ``target`` spans."""
        key = self.keys.receipt(target)
        if await self.redis.exists(key):
            await self.redis.set(key, orjson.dumps(ids), ex=RECEIPT_TTL_S)

    async def edit_chunks(
        self,
        outbound_id: str,
        target: str,
        chunks: list[str],
        *,
        edit: Callable[[str, str], Awaitable[None]],
        send: SendChunk,
        delete: Callable[[str], Awaitable[None]],
    ) -> DeliveryReceipt:
        """Edit the platform messages of ``target`` in place; add or remove chunks."""
        old = await self.resolve(target)
        for platform_id, text in zip(old, chunks, strict=False):
            await edit(platform_id, text)
        ids = old[: len(chunks)]
        if len(chunks) > len(old):
            extra = await self.send_chunks(outbound_id, chunks[len(old) :], send)
            ids += extra.platform_ids
        for platform_id in old[len(chunks) :]:
            await delete(platform_id)
        await self.rewrite(target, ids)
        return DeliveryReceipt(platform_ids=ids)
