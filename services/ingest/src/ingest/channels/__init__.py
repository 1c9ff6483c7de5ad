"""Platform channels on the inbound side: webhooks mounted on the app, and long-lived
connections (run under a leader lease). Each platform module has a pure function from the
platform's event to an ``InboundMessage``.

A platform is enabled by its credentials (``common.channel_settings``). One whose
credentials are missing, malformed or refused is reported in ``problems`` ("degraded" in
``/readyz``) and logged, and the others keep working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from common.channel_settings import ChannelSettings, secret
from common.context import Context
from common.envelope import derive_id
from ingest.publisher import Publisher

log = logging.getLogger("clawbus.ingest.channels")

Runner = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Mounted:
    """What the enabled channels added: background runners and readiness problems."""

    runners: list[Runner] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


def bot_name(token: str) -> str:
    """A stable, non-secret name for one bot's leader lease and offsets."""
    head = token.split(":", 1)[0]
    return head if head.isdigit() else derive_id("bot", token)[:12]


def mount(
    app: FastAPI,
    ctx: Context,
    publisher: Publisher,
    channel_settings: ChannelSettings | None = None,
) -> Mounted:
    """Enable every platform channel whose credentials are configured."""
    from ingest.channels import discord, slack, telegram

    cs = channel_settings or ChannelSettings()
    mounted = Mounted()
    slack.mount_slack(app, ctx, publisher, cs, mounted)
    discord.mount_discord(ctx, publisher, cs, mounted)
    telegram.mount_telegram(app, ctx, publisher, cs, mounted)
    for name, problem in mounted.problems.items():
        log.error("channel disabled", extra={"channel": name, "reason": problem})
    return mounted


__all__ = ["Mounted", "Runner", "bot_name", "mount", "secret"]
