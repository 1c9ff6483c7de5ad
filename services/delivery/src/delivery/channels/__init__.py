"""Outbound channel adapters, one per platform, behind the ``Channel`` port.

A platform is enabled by its credentials (``common.channel_settings``); one whose
credentials are missing or malformed is reported in ``problems`` (shown as "degraded" by
``/readyz``) while the others keep working.
"""

from __future__ import annotations

import logging

from common.channel_settings import ChannelSettings, secret
from common.context import Context
from common.ports import Channel
from delivery.channels.discord import DiscordChannel
from delivery.channels.ledger import Ledger
from delivery.channels.slack import SlackChannel
from delivery.channels.telegram import TelegramChannel
from delivery.channels.web import WebChatChannel
from delivery.channels.webhook import WebhookChannel

log = logging.getLogger("clawbus.delivery")


def build_channels(
    ctx: Context, channel_settings: ChannelSettings | None = None
) -> tuple[dict[str, Channel], dict[str, str]]:
    """The channels this install can send to, and why any configured one cannot."""
    settings = ctx.settings
    cs = channel_settings or ChannelSettings()
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
    ledger = Ledger(ctx.redis, ctx.keys)
    timeout = cs.channel_timeout_s
    if token := secret(cs.slack_bot_token):
        if not token.startswith("xoxb-"):
            problems["slack"] = "CLAWBUS_SLACK_BOT_TOKEN must be a bot token (xoxb-…)"
        else:
            channels["slack"] = SlackChannel(
                token, api_url=cs.slack_api_url, ledger=ledger, problems=problems, timeout_s=timeout
            )
    if token := secret(cs.discord_bot_token):
        channels["discord"] = DiscordChannel(
            token, api_url=cs.discord_api_url, ledger=ledger, problems=problems, timeout_s=timeout
        )
    if token := secret(cs.telegram_bot_token):
        if ":" not in token:
            problems["telegram"] = (
                "CLAWBUS_TELEGRAM_BOT_TOKEN must look like 123456:ABC… (BotFather)"
            )
        else:
            channels["telegram"] = TelegramChannel(
                token,
                api_url=cs.telegram_api_url,
                ledger=ledger,
                redis=ctx.redis,
                keys=ctx.keys,
                problems=problems,
                timeout_s=timeout,
            )
    for name, problem in problems.items():
        log.error("channel disabled", extra={"channel": name, "reason": problem})
    return channels, problems
