"""A lean transport for the pipelines on the message path.

A lane's claims, commits and the coalesced reads and writes of a service are pipelines of a
few commands each, and a message makes about ten of them at low load. Sent through
redis-py, each costs a pooled-connection checkout, several tasks, timeouts and callbacks:
about 220 us of CPU after an idle moment here, against 100 us for the same bytes written to
one multiplexed connection whose replies a hiredis reader hands back in order. The wire is
that: one connection shared by every pipeline of the process (commands are written whole,
replies matched by arrival order), replies parsed by hiredis, errors turned into redis-py's
exception classes, and redis-py's reply conversions applied, so callers see what a redis-py
pipeline would have given them. Reply deadlines are kept by one watchdog per connection,
not by a timer per pipeline (a timer armed and cancelled per pipeline cost the services 4-6%
of their CPU per message).

A blocking command would stall everyone behind it, so blocking pipelines take a connection
of their own (``Wire.spawn``), and so do a lane bus's claims (they would wait behind its
commits). A pipeline whose reply does not come within the timeout (give or take a tenth of
it) closes the connection (replies could no longer be matched) and fails every pipeline on
it; like redis-py, a pipeline that met a connection error is sent again, a few times, on a
new connection (the lane scripts are safe to repeat). Only plain TCP without TLS is served
here; other URLs keep redis-py's pipelines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis._parsers.response_callbacks import get_response_callbacks
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection, SSLConnection
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.exceptions import ConnectionError, DataError, InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from common import metrics

log = logging.getLogger("clawbus.wire")

Queue = Callable[[Pipeline], object]

_PACK_COMMAND: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command


def pack(command: Sequence[Any]) -> bytes:
    """One command in RESP, packed by hiredis as redis-py's hiredis packer does (a head
    such as ``"SCRIPT LOAD"`` split into words), without its per-argument copies."""
    head = command[0]
    if " " in head if isinstance(head, str) else b" " in head:
        command = (*head.split(), *command[1:])
    try:
        return _PACK_COMMAND(tuple(command))
    except TypeError:
        pass
    try:  # buffers, as redis-py accepts them
        return _PACK_COMMAND(
            tuple(bytes(a) if isinstance(a, bytearray | memoryview) else a for a in command)
        )
    except TypeError as exc:
        raise DataError(f"{exc} (command {head!r})") from exc


# The wire speaks RESP2: these turn its replies into the shapes redis-py gives by default.
_CALLBACKS: dict[str, Callable[..., Any]] = {
    name.upper(): callback
    for name, callback in get_response_callbacks(user_protocol=2, legacy_responses=True).items()
}
RETRIES = 3
WATCH_EVERY_S = 0.5  # the watchdog's longest period (a tenth of the reply timeout if shorter)


@dataclass(slots=True)
class _Batch:
    size: int
    future: asyncio.Future[list[Any]]
    deadline: float  # loop time by which its replies are due
    timeout_s: float
    replies: list[Any] = field(default_factory=list)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(
            protocolError=InvalidResponse, replyError=BaseParser.parse_error
        )
        self.pending: deque[_Batch] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None
        self.closing = False  # closed on purpose: not an error

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        pending = self.pending
        while True:
            try:
                reply = self.reader.gets()
            except InvalidResponse as exc:  # the stream is corrupt: nothing can be matched
                self._fail(ConnectionError(f"invalid reply from Redis: {exc}"))
                if self.transport is not None:
                    self.transport.close()
                return
            if reply is False:
                return
            if not pending:  # a reply nobody asked for: the stream cannot be trusted
                self._fail(ConnectionError("unexpected reply from Redis"))
                if self.transport is not None:
                    self.transport.close()
                return
            batch = pending[0]
            batch.replies.append(reply)
            if len(batch.replies) == batch.size:
                pending.popleft()
                if not batch.future.done():
                    batch.future.set_result(batch.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            metrics.REDIS_CONNECTION_ERRORS.labels("lost").inc()
            log.warning("connection to Redis lost", extra={"error": str(exc or "closed")})
        self._fail(ConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def _fail(self, exc: Exception) -> None:
        self.lost = exc
        while self.pending:
            batch = self.pending.popleft()
            if not batch.future.done():
                batch.future.set_exception(exc)


class Wire:
    """Pipelines over one multiplexed connection (see the module's docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout_s: float = 5.0,
        reply_timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.connect_timeout_s = connect_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self._protocol: _Protocol | None = None
        self._connecting = asyncio.Lock()
        self._spawned: list[Wire] = []
        self._watchdog: asyncio.Task[None] | None = None

    @classmethod
    def for_client(cls, redis: Redis) -> Wire | None:
        """A wire to the server ``redis`` talks to, if it is plain TCP with raw replies."""
        pool = redis.connection_pool
        kw = pool.connection_kwargs
        kind = pool.connection_class
        if not issubclass(kind, Connection) or issubclass(kind, SSLConnection):
            return None  # TLS, unix sockets and the like keep redis-py's own connections
        if kw.get("decode_responses"):
            return None
        return cls(
            kw.get("host", "localhost"),
            int(kw.get("port", 6379)),
            db=int(kw.get("db", 0) or 0),
            username=kw.get("username"),
            password=kw.get("password"),
            connect_timeout_s=float(kw.get("socket_connect_timeout") or 5.0),
            reply_timeout_s=float(kw.get("socket_timeout") or 10.0),
        )

    def spawn(self) -> Wire:
        """Another wire to the same server, for a caller whose commands block."""
        wire = Wire(
            self.host,
            self.port,
            db=self.db,
            username=self.username,
            password=self.password,
            connect_timeout_s=self.connect_timeout_s,
            reply_timeout_s=self.reply_timeout_s,
        )
        self._spawned.append(wire)
        return wire

    async def aclose(self) -> None:
        for wire in self._spawned:
            await wire.aclose()
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.closing = True
            protocol.transport.close()

    async def execute(self, commands: Sequence[Sequence[Any]], *, wait_s: float = 0.0) -> list[Any]:
        """Send ``commands`` as one pipeline; their replies in order, error replies as
        exception objects. ``wait_s`` is how long a blocking command among them may wait."""
        if not commands:
            return []
        data = b"".join(map(pack, commands))
        attempt = 0
        while True:
            try:
                return await self._send(data, len(commands), self.reply_timeout_s + wait_s)
            except ConnectionError:
                attempt += 1
                if attempt > RETRIES:
                    raise
                await asyncio.sleep(min(1.0, 0.05 * 2**attempt))

    async def _send(self, data: bytes, size: int, timeout_s: float) -> list[Any]:
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            protocol = await self._connect()
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        batch = _Batch(size, loop.create_future(), loop.time() + timeout_s, timeout_s)
        protocol.pending.append(batch)
        protocol.transport.write(data)
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = loop.create_task(self._watch(), name="wire-watchdog")
        return await batch.future

    async def _watch(self) -> None:
        """Close a connection whose replies are overdue: the pipeline that waited too long
        fails with a timeout, the others with the connection (and are sent again). Runs
        while replies are awaited; the next pipeline sent after it stopped starts it."""
        loop = asyncio.get_running_loop()
        every = min(WATCH_EVERY_S, max(0.01, self.reply_timeout_s / 10))
        while True:
            await asyncio.sleep(every)
            protocol = self._protocol
            if protocol is None or protocol.transport is None or not protocol.pending:
                return  # the next pipeline sent starts it again
            now = loop.time()
            late = next((b for b in protocol.pending if b.deadline <= now), None)
            if late is None:
                continue
            metrics.REDIS_CONNECTION_ERRORS.labels("timeout").inc()
            log.warning("no reply from Redis in time", extra={"timeout_s": late.timeout_s})
            if not late.future.done():
                late.future.set_exception(
                    RedisTimeoutError(f"no reply from Redis within {late.timeout_s:.1f}s")
                )
            protocol.closing = True  # counted as a timeout, not also as lost
            protocol.transport.close()  # later replies could not be matched any more
            return  # the pipelines sent next go over a new connection, watched anew

    async def _connect(self) -> _Protocol:
        async with self._connecting:
            if self._protocol is not None and self._protocol.lost is None:
                return self._protocol
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            except (OSError, TimeoutError) as exc:
                metrics.REDIS_CONNECTION_ERRORS.labels("connect").inc()
                raise ConnectionError(
                    f"cannot reach Redis at {self.host}:{self.port}: {exc}"
                ) from exc
            setup: list[tuple[Any, ...]] = []
            if self.password:
                auth = (self.username, self.password) if self.username else (self.password,)
                setup.append(("AUTH", *auth))
            if self.db:
                setup.append(("SELECT", self.db))
            self._protocol = protocol
            if setup:
                replies = await self._send(
                    b"".join(map(pack, setup)),
                    len(setup),
                    self.reply_timeout_s,
                )
                for reply in replies:
                    if isinstance(reply, Exception):
                        metrics.REDIS_CONNECTION_ERRORS.labels("connect").inc()
                        self._protocol = None
                        protocol.closing = True
                        if protocol.transport is not None:
                            protocol.transport.close()
                        raise ConnectionError(f"Redis refused the connection: {reply}")
            return protocol


async def run(redis: Redis, wire: Wire, queue: Queue, *, wait_s: float = 0.0) -> list[Any]:
    """Run the commands ``queue`` adds to a redis-py pipeline over ``wire``; the replies a
    redis-py pipeline would give (its reply conversions applied; errors as objects)."""
    pipe = redis.pipeline(transaction=False)
    queue(pipe)
    stack = pipe.command_stack
    if not stack:
        return []
    replies = await wire.execute([args for args, _ in stack], wait_s=wait_s)
    callbacks = _CALLBACKS
    out: list[Any] = []
    for (args, options), reply in zip(stack, replies, strict=True):
        options = dict(options)
        options.pop("keys", None)
        options.pop(NEVER_DECODE, None)
        empty = options.pop(EMPTY_RESPONSE, _NOTHING)
        if isinstance(reply, ResponseError):
            out.append(empty if empty is not _NOTHING else reply)
            continue
        if isinstance(reply, Exception):
            out.append(reply)
            continue
        name = args[0]
        callback = callbacks.get(name.upper() if isinstance(name, str) else name.decode().upper())
        out.append(callback(reply, **options) if callback is not None else reply)
    return out


async def send(redis: Redis, queue: Queue) -> list[Any]:
    """One pipeline of the commands ``queue`` adds: over ``redis``'s wire when it has one,
    else through redis-py. Error replies come back as exception objects either way."""
    wire = of(redis)
    if wire is not None:
        return await run(redis, wire, queue)
    async with redis.pipeline(transaction=False) as pipe:
        queue(pipe)
        if not pipe.command_stack:
            return []
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies


_NOTHING = object()

_WIRES: weakref.WeakKeyDictionary[Redis, Wire] = weakref.WeakKeyDictionary()


def attach(redis: Redis) -> Wire | None:
    """Give ``redis`` a wire for its message-path pipelines (where its URL allows one)."""
    wire = Wire.for_client(redis)
    if wire is not None:
        _WIRES[redis] = wire
    return wire


def of(redis: Redis) -> Wire | None:
    """The wire attached to ``redis``, if any."""
    return _WIRES.get(redis)


async def detach(redis: Redis) -> None:
    wire = _WIRES.pop(redis, None)
    if wire is not None:
        with contextlib.suppress(Exception):
            await wire.aclose()
