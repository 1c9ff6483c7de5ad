"""Plain (non-lane) streams: web chat history and the web chat event feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


StreamEntry = tuple[str, dict[str, str]]


class Streams:
    """Append, range and tail plain streams; the only other place stream commands live."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def append(
        self, stream: str, fields: Mapping[str, str | bytes], *, maxlen: int = 1000
    ) -> str:
        entry_id = await self.redis.xadd(stream, dict(fields), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
        return _s(entry_id)

    async def append_many(
        self, items: list[tuple[str, Mapping[str, str | bytes], int]]
    ) -> list[str]:
        """Append to several streams in one round trip: ``(stream, fields, maxlen)``."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, fields, maxlen in items:
                pipe.xadd(stream, dict(fields), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            ids = await pipe.execute()
        return [_s(i) for i in ids]

    async def range(
        self, stream: str, *, after: str | None = None, count: int = 200
    ) -> list[StreamEntry]:
        start = f"({after}" if after else "-"
        rows: Any = await self.redis.xrange(stream, min=start, count=count)
        return [(_s(i), {_s(k): _s(v) for k, v in f.items()}) for i, f in rows]

    async def last(self, stream: str, count: int) -> list[StreamEntry]:
        rows: Any = await self.redis.xrevrange(stream, count=count)
        return [(_s(i), {_s(k): _s(v) for k, v in f.items()}) for i, f in reversed(rows)]

    async def tail(
        self, stream: str, after: str, *, block_ms: int, count: int = 500
    ) -> list[StreamEntry]:
        """Entries after ``after`` (``$`` for only new ones), waiting up to ``block_ms``."""
        result: Any = await self.redis.xread({stream: after}, count=count, block=block_ms)
        if not result:
            return []
        _, rows = result[0]
        return [(_s(i), {_s(k): _s(v) for k, v in f.items()}) for i, f in rows]

    async def last_id(self, stream: str) -> str:
        rows: Any = await self.redis.xrevrange(stream, count=1)
        return _s(rows[0][0]) if rows else "0-0"
