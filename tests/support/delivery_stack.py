# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Building outbound messages and a real delivery stack (bus, handler, consumer)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from common.bus import LaneBus
from common.config import Config
from common.consumer import ConsumerOptions, LaneConsumer
from common.envelope import Envelope, now_ms
from common.keys import Keys, Stage
from common.messages import Destination, OutboundMessage
from common.ports import Channel
from common.retry import Backoff
from delivery.handler import DeliverHandler


def config_for(*channels: str) -> Config:
    return Config.model_validate(
        {
            "agents": {"assistant": {}},
            "chats": {c: {"channel": c, "chat_id": "*"} for c in channels},
            "wiring": [{"agent": "assistant", "chat": c} for c in channels],
        }
    )


def outbound(channel: str, chat: str, text: str = "hi", **kw) -> OutboundMessage:
    dest = Destination(channel=channel, chat_id=chat, thread_id=kw.pop("thread_id", None))
    return OutboundMessage(
        id=kw.pop("id", f"out-{chat}-{abs(hash(text)) % 10**8}"),
        destination=dest,
        agent="assistant",
        session=kw.pop("session", f"assistant|{channel}:{chat}"),
        text=text,
        **kw,
    )


async def publish(bus: LaneBus, *messages: OutboundMessage) -> None:
    items = [
        (
            m.destination.lane,
            Envelope(
                id=m.id,
                kind="outbound",
                trace_id="trace",
                accepted_ms=now_ms(),
                payload=m.model_dump(mode="json"),
            ),
        )
        for m in messages
    ]
    await bus.publish(Stage.DELIVER, items)


@contextlib.asynccontextmanager
async def delivering(
    bus: LaneBus, redis: Redis, keys: Keys, channels: dict[str, Channel], config: Config
) -> AsyncIterator[LaneConsumer]:
    """The delivery stage running in the background, as the delivery service runs it."""
    consumer = LaneConsumer(
        bus,
        Stage.DELIVER,
        DeliverHandler(redis, keys, config, channels),
        ConsumerOptions(concurrency=8, poll_interval_s=0.05, grace_s=2, backoff=Backoff(0.1, 1.0)),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield consumer
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def eventually(check, timeout: float = 10.0, interval: float = 0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
