"""delivery: deliver lanes in, platform API calls out."""

from __future__ import annotations

import asyncio

from common import lifecycle, logs
from common.consumer import ConsumerOptions, LaneConsumer
from common.context import Context, observe_stage
from common.keys import Stage
from common.lifecycle import Health, run_service
from delivery.channels import build_channels
from delivery.handler import DeliverHandler
from delivery.settings import DeliverySettings


async def main() -> None:
    settings = DeliverySettings()
    logs.configure("delivery", settings.log_level, json=settings.log_json)
    ctx = Context.create(settings)
    channels, problems = build_channels(ctx)
    consumer = LaneConsumer(
        ctx.bus,
        Stage.DELIVER,
        DeliverHandler(ctx.redis, ctx.keys, ctx.config, channels),
        ConsumerOptions.from_settings(settings, settings.delivery_concurrency),
    )

    async def body(stop: asyncio.Event, health: Health) -> None:
        health.checks += [ctx.redis_check(), consumer.ready_check()]

        async def channel_problems() -> str | None:
            return "; ".join(f"{k}: {v}" for k, v in problems.items()) or None

        health.degraded.append(channel_problems)
        for channel in channels.values():
            await channel.start()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(consumer.run(stop))
                tg.create_task(observe_stage(ctx, "delivery", Stage.DELIVER, stop))
        finally:
            for channel in channels.values():
                await channel.aclose()
            await ctx.aclose()

    await run_service(
        "delivery", body, host=settings.http_host, port=settings.http_port, nice=settings.nice
    )


if __name__ == "__main__":
    lifecycle.run(main)
