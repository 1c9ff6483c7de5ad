"""ingest: platform events in, normalised messages into route lanes."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from common import lifecycle, logs
from common.context import Context
from common.lifecycle import Health, run_service
from ingest import channels
from ingest.api import http_router, install_errors
from ingest.publisher import Publisher
from ingest.settings import IngestSettings
from ingest.webchat import WebChatHub, webchat_router


def build(settings: IngestSettings) -> tuple[FastAPI, Context, Publisher, WebChatHub]:
    ctx = Context.create(settings, max_connections=256)
    publisher = Publisher(
        ctx.bus,
        backlog_limit=settings.backlog_limit,
        retry_after_s=settings.retry_after_s,
        max_bytes=settings.max_message_bytes,
    )
    token = settings.ingest_token.get_secret_value() if settings.ingest_token else None
    webchat_token = settings.webchat_token.get_secret_value() if settings.webchat_token else None
    hub = WebChatHub(ctx.streams, ctx.keys, publisher, token=webchat_token)
    app = FastAPI(title="clawbus ingest", docs_url=None, redoc_url=None)
    install_errors(app)
    app.include_router(http_router(publisher, token=token, max_bytes=settings.max_message_bytes))
    app.include_router(webchat_router(hub))
    return app, ctx, publisher, hub


async def main() -> None:
    settings = IngestSettings()
    logs.configure("ingest", settings.log_level, json=settings.log_json)
    app, ctx, publisher, hub = build(settings)
    mounted = channels.mount(app, ctx, publisher)

    async def body(stop: asyncio.Event, health: Health) -> None:
        health.checks.append(ctx.redis_check())

        async def channel_problems() -> str | None:
            if not mounted.problems:
                return None
            return "; ".join(f"{k}: {v}" for k, v in mounted.problems.items())

        health.degraded.append(channel_problems)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(publisher.refresh(stop))
                tg.create_task(hub.tail(stop))
                for runner in mounted.runners:
                    tg.create_task(runner(stop))
        finally:
            await ctx.aclose()

    await run_service(
        "ingest",
        body,
        host=settings.http_host,
        port=settings.http_port,
        app=app,
        nice=settings.nice,
    )


if __name__ == "__main__":
    lifecycle.run(main)
