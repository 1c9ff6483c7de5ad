"""Plain (non-lane) streams: web chat history and the web chat event feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from common.bus.lanes import ScriptCall
from common.coalesce import Coalescer


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


StreamEntry = tuple[str, dict[str, str]]


# KEYS: a history stream, a feed stream[, a receipt key]. ARGV: history maxlen, feed
# maxlen, receipt ttl (s), the feed's extra field pairs count, those pairs, then the entry's
# field pairs. Appends the entry to the history, then to the feed with the history entry's
# id as "id". With a receipt key: does nothing if the receipt exists (returns false), and
# records ["<id>"] as the receipt in the same step otherwise.
_APPEND_LINKED = """
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then return false end
local extra = tonumber(ARGV[4])
local fields = {unpack(ARGV, 5 + 2 * extra)}
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
for i = 5, 4 + 2 * extra do table.insert(fields, ARGV[i]) end
table.insert(fields, 'id')
table.insert(fields, id)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
if KEYS[3] then redis.call('SET', KEYS[3], cjson.encode({id}), 'EX', ARGV[3]) end
return id
"""


class Streams:
    """Append, range and tail plain streams; the only other place stream commands live."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._append_linked = redis.register_script(_APPEND_LINKED)
        # appends of replies delivered at once share round trips (and the client's wire)
        self._batch = Coalescer(redis)

    async def append(
        self, stream: str, fields: Mapping[str, str | bytes], *, maxlen: int = 1000
    ) -> str:
        entry_id = await self.redis.xadd(stream, dict(fields), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
        return _s(entry_id)

    async def append_linked(
        self,
        history: tuple[str, int],
        feed: tuple[str, int],
        fields: Mapping[str, str | bytes],
        extra: Mapping[str, str | bytes],
    ) -> str:
        """Append ``fields`` to a history stream and, in the same step, to a feed stream
        with ``extra`` and the history entry's id as ``id``; each ``(stream, maxlen)``.
        Returns the history entry's id."""
        script, keys, args = self.append_linked_call(history, feed, fields, extra)
        return _s(await self._batch.script(script, keys, args))

    def append_linked_call(
        self,
        history: tuple[str, int],
        feed: tuple[str, int],
        fields: Mapping[str, str | bytes],
        extra: Mapping[str, str | bytes],
        *,
        receipt: tuple[str, int] | None = None,
    ) -> ScriptCall:
        """``append_linked`` as a script call, for a round trip that carries other commands
        (a lane's commit); its reply is the history entry's id. With ``receipt`` (key, ttl
        s) the step happens at most once: it replies nil and appends nothing if the receipt
        exists, and records the entry id there otherwise."""
        args: list[Any] = [history[1], feed[1], receipt[1] if receipt else 0]
        args.append(len(extra))
        for pairs in (extra, fields):
            for k, v in pairs.items():
                args += [k, v]
        keys = [history[0], feed[0], *([receipt[0]] if receipt else [])]
        return (self._append_linked, keys, args)

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
