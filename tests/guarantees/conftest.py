from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clawbus.embedded import EmbeddedRedis
from tests.guarantees.cluster import Cluster, Sink


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = Sink()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
def own_redis(tmp_path: Path):
    """A Redis of this test's own, so the test may kill and restart it."""
    server = EmbeddedRedis(tmp_path / "redis", appendfsync="always")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_cluster(tmp_path: Path, redis_server: EmbeddedRedis, namespace: str, sink: Sink):
    made: list[Cluster] = []

    def make(redis_url: str | None = None, **overrides: str) -> Cluster:
        c = Cluster(tmp_path, redis_url or redis_server.url, namespace, sink, **overrides)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
