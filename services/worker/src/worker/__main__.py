"""worker: agent lanes in, replies and control events out, under the global cap."""

from __future__ import annotations

import asyncio
import contextlib

from redis.exceptions import RedisError

from common import lifecycle, logs, metrics
from common.coalesce import Coalescer
from common.consumer import ConsumerOptions, LaneConsumer
from common.context import Context, observe_stage
from common.keys import Stage
from common.lifecycle import Health, run_service
from common.semaphore import Slots
from worker.agents import AgentDirectory
from worker.handler import AgentHandler
from worker.journal import Journal
from worker.providers import Providers
from worker.reads import state_reads
from worker.runtime import AgentRuntime
from worker.settings import WorkerSettings


async def observe_slots(slots: Slots, stop: asyncio.Event) -> None:
    metrics.AGENT_SLOTS_CAPACITY.set(slots.cap)
    while not stop.is_set():
        with contextlib.suppress(RedisError, OSError):
            metrics.AGENT_SLOTS_IN_USE.set(await slots.in_use())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=5)


async def main() -> None:
    settings = WorkerSettings()
    logs.configure("worker", settings.log_level, json=settings.log_json)
    ctx = Context.create(settings)
    providers = Providers(settings)
    tz = ctx.config.timezone if ctx.config.timezone != "UTC" else settings.timezone
    batch = Coalescer(ctx.redis)
    runtime = AgentRuntime(
        config=ctx.config,
        directory=AgentDirectory(ctx.config),
        providers=providers,
        redis=ctx.redis,
        keys=ctx.keys,
        bus=ctx.bus,
        tz=tz,
        typing_interval_s=settings.typing_interval_s,
        typing_delay_s=settings.typing_delay_s,
        history_cache_items=settings.history_cache_items,
    )
    handler = AgentHandler(
        runtime,
        Journal(ctx.redis, ctx.keys, batch=batch, held=runtime.held),
        timeout_s=settings.agent_run_timeout_s,
        max_attempts=settings.max_attempts,
    )
    slots = Slots(
        ctx.redis, ctx.keys.agent_slots, settings.agent_max_concurrency, settings.lease_ttl_s
    )
    consumer = LaneConsumer(
        ctx.bus,
        Stage.AGENT,
        handler,
        ConsumerOptions.from_settings(settings, settings.worker_concurrency),
        mode="batch",
        slots=slots,
        reads=state_reads(ctx.keys, runtime.held),
    )

    async def body(stop: asyncio.Event, health: Health) -> None:
        health.checks += [ctx.redis_check(), consumer.ready_check()]
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(consumer.run(stop))
                tg.create_task(observe_stage(ctx, "worker", Stage.AGENT, stop))
                tg.create_task(observe_slots(slots, stop))
        finally:
            await providers.aclose()
            await ctx.aclose()

    await run_service(
        "worker", body, host=settings.http_host, port=settings.http_port, nice=settings.nice
    )


if __name__ == "__main__":
    lifecycle.run(main)
