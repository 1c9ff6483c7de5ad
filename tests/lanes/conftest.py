"""Every lane test runs twice: with redis-py's pipelines, and over the wire the services
use for their message-path pipelines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis
from common import wire as wires


@pytest.fixture(params=["redis-py", "wire"])
async def redis(
    request: pytest.FixtureRequest, redis_server: EmbeddedRedis
) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=False)
    if request.param == "wire":
        assert wires.attach(client) is not None
    yield client
    await wires.detach(client)
    await client.aclose()
