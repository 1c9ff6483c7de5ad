"""Coalesced round trips against a real Redis: sharing, isolation of errors, recovery."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from common.coalesce import Coalescer


class Counting(Coalescer):
    """Counts the pipelines sent."""

    sent = 0

    async def _send(self, batch):  # type: ignore[no-untyped-def]
        self.sent += 1
        await super()._send(batch)


async def test_callers_of_one_loop_turn_share_one_pipeline(redis: Redis, namespace: str):
    batch = Counting(redis)
    await redis.set(f"{namespace}:k", b"v")

    async def caller(i: int) -> list[object]:
        return await batch.run(
            lambda pipe: (pipe.incr(f"{namespace}:n{i}"), pipe.get(f"{namespace}:k"))
        )

    replies = await asyncio.gather(*(caller(i) for i in range(50)))
    assert replies == [[1, b"v"]] * 50  # each caller gets the replies to its own commands
    assert batch.sent == 1
    assert await batch.run(lambda pipe: pipe.get(f"{namespace}:n7")) == [b"1"]
    assert batch.sent == 2


async def test_an_error_reply_fails_only_its_caller(redis: Redis, namespace: str):
    batch = Coalescer(redis)
    await redis.rpush(f"{namespace}:list", b"x")

    async def broken() -> list[object]:
        return await batch.run(lambda pipe: pipe.get(f"{namespace}:list"))  # WRONGTYPE

    async def bug() -> list[object]:
        def queue(pipe: object) -> None:
            raise RuntimeError("caller bug")

        return await batch.run(queue)

    async def fine() -> list[object]:
        return await batch.run(lambda pipe: pipe.llen(f"{namespace}:list"))

    results = await asyncio.gather(broken(), bug(), fine(), return_exceptions=True)
    assert isinstance(results[0], ResponseError)
    assert isinstance(results[1], RuntimeError)
    assert results[2] == [1]
    [reply] = await batch.run(lambda pipe: pipe.get(f"{namespace}:list"), check=False)
    assert isinstance(reply, ResponseError)  # unchecked: the error comes back as a reply


async def test_a_script_the_server_lost_is_loaded_again(redis: Redis, namespace: str):
    batch = Coalescer(redis)
    script = redis.register_script("return redis.call('INCR', KEYS[1])")
    assert await batch.script(script, [f"{namespace}:s"], []) == 1
    await redis.script_flush()
    assert await batch.script(script, [f"{namespace}:s"], []) == 2


async def test_a_dead_connection_fails_every_caller_and_the_next_turn_recovers(
    redis: Redis, namespace: str
):
    dead = Redis(port=1, socket_connect_timeout=0.5)  # nothing listens on port 1
    batch = Coalescer(dead)
    results = await asyncio.gather(
        *(batch.run(lambda pipe: pipe.ping()) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, (ConnectionError, OSError)) for r in results)
    await dead.aclose()
    assert await Coalescer(redis).run(lambda pipe: pipe.ping()) == [True]


async def test_a_cancelled_caller_does_not_break_the_others(redis: Redis, namespace: str):
    batch = Coalescer(redis)
    gone = asyncio.ensure_future(batch.run(lambda pipe: pipe.incr(f"{namespace}:c")))
    kept = asyncio.ensure_future(batch.run(lambda pipe: pipe.incr(f"{namespace}:c")))
    await asyncio.sleep(0)
    gone.cancel()
    assert (await kept)[0] in (1, 2)
    with pytest.raises(asyncio.CancelledError):
        await gone
