from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis
from common.bus import LaneBus
from common.bus.writer import BatchWriter
from common.keys import Keys


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=False)
    yield client
    await client.aclose()


@pytest.fixture
def keys(namespace: str) -> Keys:
    return Keys(namespace, 4)


@pytest.fixture
def bus(redis: Redis, keys: Keys) -> LaneBus:
    return LaneBus(redis, keys, lease_ttl_s=2.0, max_attempts=3)


@pytest.fixture
async def writer(bus: LaneBus) -> AsyncIterator[BatchWriter]:
    """A started batch writer on ``bus``: lane commits as the consumers make them."""
    w = BatchWriter(bus)
    await w.start()
    yield w
    await w.aclose()


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path
