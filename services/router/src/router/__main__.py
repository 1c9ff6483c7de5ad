"""router: route lanes in, agent lanes out."""

from __future__ import annotations

import asyncio

from common import lifecycle, logs
from common.consumer import ConsumerOptions, LaneConsumer
from common.context import Context, observe_stage
from common.keys import Stage
from common.lifecycle import Health, run_service
from router.handler import RouteHandler
from router.settings import RouterSettings


async def main() -> None:
    settings = RouterSettings()
    logs.configure("router", settings.log_level, json=settings.log_json)
    ctx = Context.create(settings)
    consumer = LaneConsumer(
        ctx.bus,
        Stage.ROUTE,
        RouteHandler(ctx.redis, ctx.keys, ctx.config),
        ConsumerOptions.from_settings(settings, settings.router_concurrency),
    )

    async def body(stop: asyncio.Event, health: Health) -> None:
        health.checks += [ctx.redis_check(), consumer.ready_check()]
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(consumer.run(stop))
                tg.create_task(observe_stage(ctx, "router", Stage.ROUTE, stop))
        finally:
            await ctx.aclose()

    await run_service(
        "router", body, host=settings.http_host, port=settings.http_port, nice=settings.nice
    )


if __name__ == "__main__":
    lifecycle.run(main)
