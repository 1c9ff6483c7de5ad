"""The services' Redis client against a real Redis: its pool (callers beyond its size wait
their turn, none fails, none is left waiting with a connection free, a wait is bounded, a
caller cancelled while waiting does not take a turn from the others) and its C command
packer (the same bytes as redis-py's own, for every kind of argument the services send)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError

from clawbus.embedded import EmbeddedRedis
from common.redis_client import PackedConnection, QueuedPool, connect
from common.settings import Settings


def pool_client(url: str, size: int, timeout: float = 30.0) -> Redis:
    return Redis(connection_pool=QueuedPool.from_url(url, max_connections=size, timeout=timeout))


async def test_callers_beyond_the_pool_size_wait_their_turn(redis_server: EmbeddedRedis):
    client = pool_client(redis_server.url, 2)
    try:
        # 12 blocking reads on 2 connections: each must wait for one to come back
        results = await asyncio.gather(
            *(client.blpop([f"none:{i}"], timeout=0.1) for i in range(12))
        )
        assert results == [None] * 12
        pool = client.connection_pool
        assert len(pool._in_use_connections) == 0
        assert len(pool._available_connections) == 2
    finally:
        await client.aclose()


async def test_a_wait_for_a_connection_is_bounded(redis_server: EmbeddedRedis):
    client = pool_client(redis_server.url, 1, timeout=0.2)
    try:
        held = asyncio.create_task(client.blpop(["none"], timeout=2))
        await asyncio.sleep(0.1)
        with pytest.raises(ConnectionError, match="No connection available"):
            await client.ping()
        assert await held is None
        assert await client.ping() is True  # the connection came back
    finally:
        await client.aclose()


async def test_a_cancelled_waiter_passes_its_turn_on(redis_server: EmbeddedRedis):
    pool = QueuedPool.from_url(redis_server.url, max_connections=1)
    try:
        conn = await pool.get_connection()
        first = asyncio.create_task(pool.get_connection())
        second = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.05)  # both queued behind the one connection
        await pool.release(conn)  # wakes the first...
        first.cancel()  # ...which is cancelled before it runs
        got = await asyncio.wait_for(second, 5)
        assert got is conn
        with pytest.raises(asyncio.CancelledError):
            await first
        await pool.release(got)
    finally:
        await pool.aclose()


async def test_the_services_client_uses_the_queued_pool(redis_server: EmbeddedRedis):
    client = connect(Settings(redis_url=redis_server.url), max_connections=3)
    try:
        assert isinstance(client.connection_pool, QueuedPool)
        assert await asyncio.gather(*(client.ping() for _ in range(10))) == [True] * 10
    finally:
        await client.aclose()


ARGS = [
    ("EVALSHA", "2f0083a2", 2, "ns:{ns.route.0}:ready", b"\x00\xffbin", 250, -7, 0.25, 3.5),
    ("SCRIPT LOAD", "return 1"),  # a two-word command name is split
    (b"CLIENT SETNAME", b"x"),
    ("SET", "clé", "värde ✓", "PX", 1000),
    ("EVAL", "x" * 7000, 0),  # past the Python packer's chunking cutoff
    ("SET", bytearray(b"k"), memoryview(b"v")),  # buffers go as their bytes
]


@pytest.mark.parametrize("args", ARGS)
def test_the_packer_sends_the_bytes_redis_py_would(args: tuple[object, ...]) -> None:
    python = b"".join(Connection().pack_command(*args))
    assert b"".join(PackedConnection().pack_command(*args)) == python


async def test_the_services_client_packs_in_c_and_round_trips(redis_server: EmbeddedRedis):
    client = connect(Settings(redis_url=redis_server.url))
    try:
        conn = await client.connection_pool.get_connection()
        assert isinstance(conn, PackedConnection)
        await client.connection_pool.release(conn)
        sha = await client.script_load("return {ARGV[1], ARGV[2], ARGV[3]}")
        assert await client.evalsha(sha, 0, "clé ✓", 42, b"\x00\xff") == [
            "clé ✓".encode(),
            b"42",
            b"\x00\xff",
        ]
        assert await client.blpop(["none"], timeout=0.05) is None
    finally:
        await client.aclose()
