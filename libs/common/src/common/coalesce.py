"""Coalesces the small Redis round trips of concurrent tasks into shared pipelines.

A consumer runs many lanes at once, and each makes a few small round trips of its own.
Sent one by one, every one pays a pooled-connection checkout, a write, a wake-up and a
read, and under load that is where most of a service's CPU goes. Here a task queues its
commands and awaits them; whatever all tasks queued in one turn of the event loop goes
out as one pipeline, and each task gets back the replies to its own commands. With one
task alone it costs what a direct round trip costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from common import wire as wires

Queue = Callable[[Pipeline], object]


class Coalescer:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._pending: list[tuple[Queue, asyncio.Future[list[Any]]]] = []
        self._scheduled = False
        self._sending: set[asyncio.Task[None]] = set()

    async def run(self, queue: Queue, *, check: bool = True) -> list[Any]:
        """Run the commands ``queue`` adds to a pipeline; returns their replies.

        With ``check`` the first error reply is raised; without it errors come back as
        exception objects among the replies.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._pending.append((queue, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        replies = await future
        if check:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    async def script(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run a registered script by sha; loads it if the server lost it (a restart)."""
        [reply] = await self.run(
            lambda pipe: pipe.evalsha(script.sha, len(keys), *keys, *args), check=False
        )
        if isinstance(reply, NoScriptError):
            return await script(keys=keys, args=args)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Queue, asyncio.Future[list[Any]]]]) -> None:
        spans: list[tuple[int, int] | None] = []

        def queue_all(pipe: Pipeline) -> None:
            for queue, future in batch:
                start = len(pipe.command_stack)
                try:
                    queue(pipe)
                except Exception as exc:  # a caller's bug fails that caller only
                    del pipe.command_stack[start:]
                    if not future.done():
                        future.set_exception(exc)
                    spans.append(None)
                    continue
                spans.append((start, len(pipe.command_stack)))

        try:
            replies = await wires.send(self.redis, queue_all)
        except Exception as exc:  # the connection failed: every caller sees it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), span in zip(batch, spans, strict=True):
            if span is not None and not future.done():
                future.set_result(replies[span[0] : span[1]])
