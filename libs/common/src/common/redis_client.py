"""One way to build the Redis client, with explicit timeouts, retries and pool limits."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

from common.settings import Settings


def connect(settings: Settings, *, max_connections: int = 64) -> Redis:
    # A blocking pool: under load, callers wait for a free connection instead of failing
    # with "Too many connections". The socket timeout stays above the longest blocking read.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=max_connections,
        timeout=30,
        decode_responses=False,
        socket_timeout=10 + settings.poll_interval_s,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    return Redis(connection_pool=pool)
