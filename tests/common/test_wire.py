"""The message path's transport against a real Redis: it gives what a redis-py pipeline
gives for every command the services send through it (reply shapes, error classes, NOSCRIPT
included), keeps concurrent pipelines apart on one connection, fails pipelines cleanly
when Redis goes away and reconnects when it is back, and never lets a blocking pipeline
hold up the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from clawbus.embedded import EmbeddedRedis
from common import wire as wires
from common.redis_client import connect
from common.settings import Settings

SCRIPT = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}"


def commands(ns: str, sha: str) -> Callable[[Pipeline], None]:
    def queue(p: Pipeline) -> None:
        p.set(f"{ns}:s", b"v\x00\xff", ex=60)
        p.set(f"{ns}:s", b"w", nx=True)
        p.get(f"{ns}:s")
        p.get(f"{ns}:missing")
        p.hset(f"{ns}:h", mapping={"a": "1", "b": "2"})
        p.hgetall(f"{ns}:h")
        p.hgetall(f"{ns}:none")
        p.rpush(f"{ns}:l", "x", "y")
        p.lrange(f"{ns}:l", 0, -1)
        p.lpush(f"{ns}:bell", b"1")
        p.ltrim(f"{ns}:bell", 0, 63)
        p.delete(f"{ns}:bell")
        p.zadd(f"{ns}:z", {"m": 1.5})
        p.zrange(f"{ns}:z", 0, -1, withscores=True)
        p.zrem(f"{ns}:z", "m", "gone")
        p.evalsha(sha, 1, f"{ns}:k", "é", 41)
        p.eval(SCRIPT, 1, f"{ns}:k", "x", 1)
        p.evalsha("0" * 40, 0)  # NOSCRIPT
        p.incr(f"{ns}:s")  # a wrong-type error
        p.xadd(f"{ns}:x", {"e": b"1"}, id="1-1")
        p.xrange(f"{ns}:x")
        p.exists(f"{ns}:s", f"{ns}:missing")
        p.set(f"{ns}:buf", bytearray(b"ab"))  # buffers are packed as bytes
        p.append(f"{ns}:buf", memoryview(b"cd"))
        p.get(f"{ns}:buf")
        p.execute_command("CONFIG GET", "maxmemory-policy")  # a two-word head

    return queue


async def test_replies_are_what_a_redis_py_pipeline_gives(
    redis_server: EmbeddedRedis, namespace: str
):
    client = connect(Settings(redis_url=redis_server.url))
    plain = Redis.from_url(redis_server.url)
    try:
        wire = wires.of(client)
        assert wire is not None
        sha = await plain.script_load(SCRIPT)
        ns = namespace
        got = await wires.run(client, wire, commands(ns, sha))
        await plain.delete(*[k async for k in plain.scan_iter(f"{ns}:*")])  # same start
        async with plain.pipeline(transaction=False) as pipe:
            commands(ns, sha)(pipe)
            want: list[Any] = await pipe.execute(raise_on_error=False)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            if isinstance(w, Exception):
                assert type(g) is type(w) and str(g) == str(w)
            else:
                assert g == w
        assert isinstance(got[17], NoScriptError) and isinstance(got[18], ResponseError)
    finally:
        await wires.detach(client)
        await client.aclose()
        await plain.aclose()


async def test_concurrent_pipelines_get_their_own_replies(redis_server: EmbeddedRedis):
    client = connect(Settings(redis_url=redis_server.url))
    try:
        wire = wires.of(client)
        assert wire is not None

        async def one(i: int) -> list[Any]:
            def queue(p: Pipeline) -> None:
                for j in range(i % 7 + 1):
                    p.echo(f"{i}:{j}")

            return await wires.run(client, wire, queue)

        results = await asyncio.gather(*(one(i) for i in range(300)))
        for i, replies in enumerate(results):
            assert replies == [f"{i}:{j}".encode() for j in range(i % 7 + 1)]
    finally:
        await wires.detach(client)
        await client.aclose()


async def test_a_blocking_pipeline_on_a_spawned_wire_holds_nobody_up(
    redis_server: EmbeddedRedis,
):
    client = connect(Settings(redis_url=redis_server.url))
    try:
        wire = wires.of(client)
        assert wire is not None
        own = wire.spawn()
        loop = asyncio.get_running_loop()
        blocked = asyncio.create_task(
            wires.run(client, own, lambda p: p.blpop(["nothing"], timeout=2), wait_s=2)
        )
        await asyncio.sleep(0.1)
        started = loop.time()
        assert await wires.run(client, wire, lambda p: p.ping()) == [True]
        assert loop.time() - started < 1.5  # not behind the 2 s wait
        await wires.run(client, wire, lambda p: p.lpush("nothing", b"x"))
        assert await asyncio.wait_for(blocked, 5) == [(b"nothing", b"x")]
    finally:
        await wires.detach(client)
        await client.aclose()


async def test_redis_going_away_fails_pipelines_and_coming_back_is_reconnected(
    tmp_path: Any,
):
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    client = connect(Settings(redis_url=server.url))
    try:
        wire = wires.of(client)
        assert wire is not None
        assert await wires.run(client, wire, lambda p: p.set("k", b"1")) == [True]
        lost = errors("lost")
        server.kill()
        with pytest.raises(ConnectionError):
            await wires.run(client, wire, lambda p: p.get("k"))
        assert errors("lost") == lost + 1  # counted once; the reconnects that failed too
        assert errors("connect") >= 1
        server.start()
        assert await wires.run(client, wire, lambda p: p.ping()) == [True]
    finally:
        await wires.detach(client)
        await client.aclose()
        server.stop()


def errors(reason: str) -> float:
    value = REGISTRY.get_sample_value("clawbus_redis_connection_errors_total", {"reason": reason})
    return value or 0.0


def test_only_plain_tcp_clients_get_a_wire() -> None:
    assert wires.Wire.for_client(Redis.from_url("redis://127.0.0.1:1/0")) is not None
    assert wires.Wire.for_client(Redis.from_url("rediss://127.0.0.1:1/0")) is None
    assert wires.Wire.for_client(Redis.from_url("unix:///tmp/redis.sock")) is None
    assert (
        wires.Wire.for_client(Redis.from_url("redis://127.0.0.1:1", decode_responses=True)) is None
    )


async def test_a_password_and_a_database_in_the_url_are_honoured(tmp_path: Any):
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    admin = Redis.from_url(server.url)
    await admin.config_set("requirepass", "s3cret")
    url = f"redis://:s3cret@127.0.0.1:{server.port}/3"
    client = connect(Settings(redis_url=url))
    wrong = connect(Settings(redis_url=f"redis://:nope@127.0.0.1:{server.port}/3"))
    try:
        wire = wires.of(client)
        assert wire is not None
        assert await wires.run(client, wire, lambda p: p.set("in-db-3", b"1")) == [True]
        check = Redis.from_url(url)
        assert await check.get("in-db-3") == b"1"
        await check.aclose()
        other = wires.of(wrong)
        assert other is not None
        with pytest.raises(ConnectionError, match="refused"):
            await wires.run(wrong, other, lambda p: p.ping())
    finally:
        for c in (client, wrong):
            await wires.detach(c)
            await c.aclose()
        await admin.aclose()
        server.stop()


async def test_a_pipeline_without_a_reply_in_time_fails_and_the_others_recover(
    redis_server: EmbeddedRedis,
):
    client = Redis.from_url(redis_server.url)
    wire = wires.Wire("127.0.0.1", redis_server.port, reply_timeout_s=0.3)
    try:
        # a blocking pop on the shared connection stands in for a server that stopped
        # answering: the pipeline behind it is stuck too
        slow = asyncio.create_task(wires.run(client, wire, lambda p: p.blpop(["none"], timeout=2)))
        await asyncio.sleep(0.05)
        behind = asyncio.create_task(wires.run(client, wire, lambda p: p.ping()))
        timeouts = errors("timeout")
        with pytest.raises(RedisTimeoutError):
            await slow
        assert errors("timeout") == timeouts + 1
        assert await asyncio.wait_for(behind, 5) == [True]  # sent again on a new connection
        assert await wires.run(client, wire, lambda p: p.ping()) == [True]
    finally:
        await wire.aclose()
        await client.aclose()
