"""Outbound channel adapters, one per platform, behind the ``Channel`` port."""

from __future__ import annotations

import logging

from common.context import Context
from common.ports import Channel

from delivery.channels.web import WebChatChannel
from delivery.channels.webhook import WebhookChannel

log = logging.getLogger("clawbus.delivery")


def build_channels(ctx: Context) -> tuple[dict[str, Channel], dict[str, str]]:
    """The channels this install can send to, and why any configured one cannot."""
    settings = ctx.settings
    channels: dict[str, Channel] = {"web": WebChatChannel(ctx.streams, ctx.keys)}
    problems: dict[str, str] = {}
    if settings.webhook_url:
        if settings.webhook_secret is None:
            problems["http"] = "CLAWBUS_WEBHOOK_URL is set but CLAWBUS_WEBHOOK_SECRET is not"
        else:
            channels["http"] = WebhookChannel(
                settings.webhook_url,
                settings.webhook_secret.get_secret_value(),
                timeout_s=settings.webhook_timeout_s,
            )
    for name, problem in problems.items():
        log.error("channel disabled", extra={"channel": name, "reason": problem})
    return channels, problems
