"""Accepting messages: durable in Redis before answering, idempotent, with backpressure."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from redis.exceptions import RedisError

from common import metrics
from common.bus import LaneBus
from common.envelope import Envelope, derive_id, new_trace_id, now_ms, payload_of
from common.errors import DependencyDown, RetryableError
from common.keys import Stage
from common.messages import InboundMessage

log = logging.getLogger("clawbus.ingest")


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str
    duplicate: bool
    trace_id: str


class Backpressure(RetryableError):
    """The system is behind: the caller should retry after ``retry_after`` seconds."""


def message_id(channel: str, chat_id: str, platform_message_id: str | None) -> str:
    """Deterministic for a platform message id, so a platform's retry is accepted once."""
    if platform_message_id:
        return derive_id("in", channel, chat_id, platform_message_id)
    return new_trace_id()


class Publisher:
    """Publishes inbound messages into their conversation's route lane."""

    STAGES = (Stage.ROUTE, Stage.AGENT)

    def __init__(
        self, bus: LaneBus, *, backlog_limit: int, retry_after_s: int, max_bytes: int = 65536
    ) -> None:
        self.max_bytes = max_bytes
        self.bus = bus
        self.backlog_limit = backlog_limit
        self.retry_after_s = retry_after_s
        self.backlog = 0
        self._pending: list[tuple[str, Envelope, asyncio.Future[bool]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def refresh(self, stop: asyncio.Event, interval_s: float = 0.2) -> None:
        """Keep the backlog figure fresh so each request checks it without a round trip.
        While Redis cannot be read the last figure stands: a request's own publish then
        fails and is answered 503."""
        while not stop.is_set():
            with contextlib.suppress(RedisError, OSError):
                self.backlog = await self.bus.backlog(self.STAGES)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    def check_capacity(self) -> None:
        if self.backlog >= self.backlog_limit:
            raise Backpressure(
                f"backlog of {self.backlog} entries is over the limit of {self.backlog_limit}",
                retry_after=self.retry_after_s,
            )

    async def accept(self, msg: InboundMessage, trace_id: str | None = None) -> Accepted:
        try:
            self.check_capacity()
        except Backpressure:
            metrics.INGEST_REQUESTS.labels(msg.channel, "throttled").inc()
            raise
        env = Envelope(
            id=msg.message_id,
            kind="inbound",
            trace_id=trace_id or new_trace_id(),
            accepted_ms=now_ms(),
            payload=payload_of(msg),
        )
        try:
            dup = await self._publish(msg.conversation, env)
        except (RedisError, OSError) as exc:
            metrics.INGEST_REQUESTS.labels(msg.channel, "unavailable").inc()
            raise DependencyDown(
                f"redis unavailable: {exc}", retry_after=self.retry_after_s
            ) from exc
        metrics.PUBLISHED.labels("route", "duplicate" if dup else "new").inc()
        metrics.INGEST_REQUESTS.labels(msg.channel, "duplicate" if dup else "accepted").inc()
        if not dup:
            self.backlog += 1
        log.info(
            "accepted",
            extra={
                "channel": msg.channel,
                "message_id": msg.message_id,
                "trace_id": env.trace_id,
                "duplicate": dup,
            },
        )
        return Accepted(msg.message_id, dup, env.trace_id)

    async def _publish(self, lane: str, env: Envelope) -> bool:
        """Publish with the requests that arrived in the same loop turn: one round trip and
        one bell for all of them. Returns whether it was a duplicate."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((lane, env, done))
        return await done

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[str, Envelope, asyncio.Future[bool]]]) -> None:
        try:
            dups = await self.bus.publish(Stage.ROUTE, [(lane, env) for lane, env, _ in batch])
        except Exception as exc:  # every request of the batch fails alike (503 if Redis is down)
            for _, _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, _, done), dup in zip(batch, dups, strict=True):
            if not done.done():
                done.set_result(dup)
