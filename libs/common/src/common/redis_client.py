"""One way to build the Redis client, with explicit timeouts and retries."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError

from common.settings import Settings


def connect(settings: Settings, *, max_connections: int = 64) -> Redis:
    # Socket timeout stays above the longest blocking read (bell wait, web chat tail).
    return Redis.from_url(
        settings.redis_url,
        decode_responses=False,
        socket_timeout=10 + settings.poll_interval_s,
        socket_connect_timeout=5,
        health_check_interval=30,
        max_connections=max_connections,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
    )
