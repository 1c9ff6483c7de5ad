"""Slack, inbound: the Events API over HTTP and Socket Mode feed one intake."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from common.channel_settings import ChannelSettings, secret
from common.context import Context
from ingest.publisher import Publisher

if TYPE_CHECKING:
    from ingest.channels import Mounted


def mount_slack(
    app: FastAPI, ctx: Context, publisher: Publisher, cs: ChannelSettings, mounted: Mounted
) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from ingest.channels import bot_name
    from ingest.channels.leader import leader_runner
    from ingest.channels.slack.http import slack_router
    from ingest.channels.slack.intake import SlackIntake
    from ingest.channels.slack.socket import SlackSocket

    token = secret(cs.slack_bot_token)
    signing, app_token = secret(cs.slack_signing_secret), secret(cs.slack_app_token)
    if token is None:
        if signing or app_token:
            mounted.problems["slack"] = "CLAWBUS_SLACK_BOT_TOKEN is not set"
        return
    if not token.startswith("xoxb-"):
        mounted.problems["slack"] = "CLAWBUS_SLACK_BOT_TOKEN must be a bot token (xoxb-…)"
        return
    if app_token is not None and not app_token.startswith("xapp-"):
        mounted.problems["slack"] = "CLAWBUS_SLACK_APP_TOKEN must be an app-level token (xapp-…)"
        return
    if signing is None and app_token is None:
        mounted.problems["slack"] = (
            "set CLAWBUS_SLACK_SIGNING_SECRET (Events API) or CLAWBUS_SLACK_APP_TOKEN (Socket Mode)"
        )
        return
    web = AsyncWebClient(token=token, base_url=cs.slack_api_url, timeout=int(cs.channel_timeout_s))
    intake = SlackIntake(
        publisher,
        web,
        token=token,
        max_attachment_bytes=cs.attachment_max_bytes,
        problems=mounted.problems,
        timeout_s=cs.channel_timeout_s,
    )
    if signing is not None:
        app.include_router(slack_router(intake, signing, max_bytes=publisher.max_bytes))

        async def check(stop: object) -> None:
            await intake.check()

        mounted.runners.append(check)
    if app_token is not None:
        socket = SlackSocket(intake, app_token, web)
        mounted.runners.append(
            leader_runner(
                ctx, f"slack:{bot_name(app_token)}", socket.run, ttl_s=cs.channel_leader_ttl_s
            )
        )
