"""What every service builds at start: settings, Redis, key registry, bus, config."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from common import metrics, wire
from common.bus import LaneBus, Streams
from common.config import Config, load_config
from common.keys import Keys, Stage
from common.lifecycle import ReadyCheck
from common.settings import Settings

REPLICA_ID = f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class Context:
    settings: Settings
    redis: Redis
    keys: Keys
    bus: LaneBus
    streams: Streams
    config: Config

    @classmethod
    def create(cls, settings: Settings, *, max_connections: int = 64) -> Context:
        from common.redis_client import connect

        # first: a config that cannot be loaded stops the start before any connection
        named = "config_path" in settings.model_fields_set
        config = load_config(settings.config_path, required=named)
        redis = connect(settings, max_connections=max_connections)
        keys = Keys(settings.namespace, settings.partitions)
        bus = LaneBus(
            redis,
            keys,
            lease_ttl_s=settings.lease_ttl_s,
            dedup_window_s=settings.dedup_window_s,
            max_attempts=settings.max_attempts,
            dlq_maxlen=settings.dlq_maxlen,
        )
        return cls(settings, redis, keys, bus, Streams(redis), config)

    async def aclose(self) -> None:
        await wire.detach(self.redis)
        await self.redis.aclose()

    def redis_check(self) -> ReadyCheck:
        async def check() -> str | None:
            try:
                await self.redis.ping()
            except (RedisError, OSError) as exc:
                metrics.REDIS_UP.set(0)
                return f"redis unreachable: {exc}"
            metrics.REDIS_UP.set(1)
            return None

        return check


async def observe_stage(ctx: Context, service: str, stage: Stage, stop: asyncio.Event) -> None:
    """Heartbeat this replica and export the stage's shared gauges every few seconds."""
    hb = ctx.keys.heartbeat(stage.value)
    while not stop.is_set():
        try:
            stats = await ctx.bus.stats(stage)
            sec, usec = await ctx.redis.time()
            now_ms = int(sec) * 1000 + int(usec) // 1000
            async with ctx.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(hb, {f"{service}:{REPLICA_ID}": now_ms})
                pipe.zremrangebyscore(hb, "-inf", now_ms - 30_000)
                pipe.zcard(hb)
                _, _, consumers = await pipe.execute()
            metrics.BACKLOG.labels(stage.value).set(stats.backlog)
            metrics.OLDEST_AGE.labels(stage.value).set(stats.oldest_age_s)
            metrics.LANES_READY.labels(stage.value).set(stats.ready)
            metrics.LANES_ACTIVE.labels(stage.value).set(stats.active)
            metrics.CONSUMERS.labels(stage.value).set(consumers)
            metrics.REDIS_UP.set(1)
        except (RedisError, OSError):
            metrics.REDIS_UP.set(0)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=5)
