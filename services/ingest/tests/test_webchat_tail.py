# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The web chat feed is read only while a socket is open, and a socket that opens while
the reading is paused misses nothing that follows its history replay (real Redis)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import orjson
from redis.asyncio import Redis

from common.bus import Streams
from common.keys import Keys
from ingest.webchat import WebChatHub


class Socket:
    def __init__(self) -> None:
        self.frames: list[dict[str, object]] = []

    async def send_text(self, text: str) -> None:
        self.frames.append(orjson.loads(text))


async def eventually(check: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)


def tailing(hub: WebChatHub) -> bool:
    return hub.tailing


async def xreads(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_xread", {}).get("calls", 0))


async def event(streams: Streams, keys: Keys, conv: str, text: str) -> str:
    fields = {"conv": conv, "kind": "message", "role": "agent", "text": text}
    return await streams.append(keys.webchat_events, fields)


async def test_the_feed_is_read_only_while_a_socket_is_open(redis: Redis, keys: Keys):
    streams = Streams(redis)
    hub = WebChatHub(streams, keys, publisher=None, token=None)  # type: ignore[arg-type]
    stop = asyncio.Event()
    tail = asyncio.create_task(hub.tail(stop))
    try:
        await asyncio.sleep(0.2)
        before = await xreads(redis)
        for i in range(20):
            await event(streams, keys, "c1", f"unseen {i}")
        await asyncio.sleep(1.5)  # longer than one blocking read
        assert await xreads(redis) == before  # nobody to push to: nothing read
        assert not tailing(hub)

        ws = Socket()
        await hub.join("c1", ws)  # type: ignore[arg-type]
        # appended between the resume mark and a history replay: must still arrive
        await event(streams, keys, "c1", "after join")
        await event(streams, keys, "c2", "other conversation")
        await eventually(lambda: bool(ws.frames))
        assert [f["text"] for f in ws.frames] == ["after join"]
        assert tailing(hub)

        hub.leave("c1", ws)  # type: ignore[arg-type]
        await event(streams, keys, "c1", "after leave")  # ends the blocking read
        await eventually(lambda: not tailing(hub))
        assert not tailing(hub)

        again = Socket()
        await hub.join("c1", again)  # type: ignore[arg-type]
        await event(streams, keys, "c1", "back")
        await eventually(lambda: bool(again.frames))
        assert [f["text"] for f in again.frames] == ["back"]
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(tail, 5)
