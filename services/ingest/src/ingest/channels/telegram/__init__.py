"""Telegram, inbound: Bot API updates by webhook or long polling feed one intake."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from fastapi import FastAPI

from common.channel_settings import ChannelSettings, secret
from common.context import Context
from common.errors import ClawbusError
from ingest.publisher import Publisher

if TYPE_CHECKING:
    from ingest.channels import Mounted


def mount_telegram(
    app: FastAPI, ctx: Context, publisher: Publisher, cs: ChannelSettings, mounted: Mounted
) -> None:
    from ingest.channels import bot_name
    from ingest.channels.leader import leader_runner
    from ingest.channels.telegram.api import TelegramAPI
    from ingest.channels.telegram.intake import TelegramIntake
    from ingest.channels.telegram.polling import TelegramPoller
    from ingest.channels.telegram.webhook import telegram_router

    token = secret(cs.telegram_bot_token)
    hook_secret = secret(cs.telegram_webhook_secret)
    if token is None:
        if hook_secret:
            mounted.problems["telegram"] = "CLAWBUS_TELEGRAM_BOT_TOKEN is not set"
        return
    if ":" not in token:
        mounted.problems["telegram"] = (
            "CLAWBUS_TELEGRAM_BOT_TOKEN must look like 123456:ABC… (from BotFather)"
        )
        return
    api = TelegramAPI(token, api_url=cs.telegram_api_url, timeout_s=cs.channel_timeout_s)
    intake = TelegramIntake(
        api,
        publisher,
        ctx.redis,
        ctx.keys,
        max_attachment_bytes=cs.attachment_max_bytes,
        problems=mounted.problems,
    )
    bot = bot_name(token)
    if cs.telegram_webhook:
        if hook_secret is None:
            mounted.problems["telegram"] = "webhook mode needs CLAWBUS_TELEGRAM_WEBHOOK_SECRET"
            return
        app.include_router(telegram_router(intake, hook_secret, max_bytes=publisher.max_bytes))

        async def check(stop: object) -> None:
            """Say at start-up whether the token works (updates arrive by webhook)."""
            with contextlib.suppress(ClawbusError):
                await intake.bot()

        mounted.runners.append(check)
        return
    poller = TelegramPoller(
        api,
        intake,
        ctx.redis,
        ctx.keys.kv(f"telegram:offset:{bot}"),
        timeout_s=cs.telegram_poll_timeout_s,
    )
    mounted.runners.append(
        leader_runner(ctx, f"telegram:{bot}", poller.run, ttl_s=cs.channel_leader_ttl_s)
    )
