"""scheduler: task commands in, due task occurrences into agent lanes, each exactly once."""

from __future__ import annotations

import asyncio

from common import lifecycle, logs
from common.consumer import ConsumerOptions, LaneConsumer
from common.context import Context, observe_stage
from common.keys import Stage
from common.lifecycle import Health, run_service
from scheduler.firing import ControlHandler, Firer
from scheduler.settings import SchedulerSettings
from scheduler.store import TaskStore


async def main() -> None:
    settings = SchedulerSettings()
    logs.configure("scheduler", settings.log_level, json=settings.log_json)
    ctx = Context.create(settings)
    tz = ctx.config.timezone if ctx.config.timezone != "UTC" else settings.timezone
    store = TaskStore(ctx.redis, ctx.keys)
    firer = Firer(store, ctx.bus, tz, firing_timeout_s=settings.firing_timeout_s)
    consumer = LaneConsumer(
        ctx.bus,
        Stage.CONTROL,
        ControlHandler(store, tz),
        ConsumerOptions.from_settings(settings, 32),
    )

    async def body(stop: asyncio.Event, health: Health) -> None:
        health.checks += [ctx.redis_check(), consumer.ready_check()]
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(consumer.run(stop))
                tg.create_task(firer.run(stop, settings.tick_s))
                tg.create_task(observe_stage(ctx, "scheduler", Stage.CONTROL, stop))
        finally:
            await ctx.aclose()

    await run_service(
        "scheduler", body, host=settings.http_host, port=settings.http_port, nice=settings.nice
    )


if __name__ == "__main__":
    lifecycle.run(main)
