# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""An ingest app on a test namespace, and reading back what it published."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from common.bus import LaneBus
from common.channel_settings import ChannelSettings
from common.envelope import decode
from common.keys import Stage
from common.messages import InboundMessage
from ingest.__main__ import build
from ingest.channels import Mounted, mount
from ingest.publisher import Publisher
from ingest.settings import IngestSettings
from tests.support import DEFAULT_CONFIG_FILE


@contextlib.asynccontextmanager
async def ingest_app(
    redis_url: str, namespace: str, cs: ChannelSettings
) -> AsyncIterator[tuple[FastAPI, Publisher, Mounted, httpx.AsyncClient]]:
    settings = IngestSettings(
        redis_url=redis_url, namespace=namespace, config_path=Path(DEFAULT_CONFIG_FILE)
    )
    app, ctx, publisher, _ = build(settings)
    mounted = mount(app, ctx, publisher, cs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        yield app, publisher, mounted, client
    await ctx.aclose()


async def published(bus: LaneBus) -> list[InboundMessage]:
    """Every message in the route lanes (claims them: call once, at the end)."""
    out = []
    for lane in await bus.claim(Stage.ROUTE, 1000, 1000):
        for entry in lane.entries:
            out.append(InboundMessage.model_validate(decode(entry.raw).payload))
    out.sort(key=lambda m: m.sent_ms)
    return out


def channel_settings(**kw: object) -> ChannelSettings:
    return ChannelSettings.model_validate(kw)
