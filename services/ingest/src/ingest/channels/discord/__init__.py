"""Discord, inbound: the gateway connection, under a leader lease."""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.channel_settings import ChannelSettings, secret
from common.context import Context
from ingest.publisher import Publisher

if TYPE_CHECKING:
    from ingest.channels import Mounted


def mount_discord(
    ctx: Context, publisher: Publisher, cs: ChannelSettings, mounted: Mounted
) -> None:
    import discord.http

    from ingest.channels import bot_name
    from ingest.channels.discord.gateway import DiscordGateway, DiscordIntake
    from ingest.channels.leader import leader_runner

    token = secret(cs.discord_bot_token)
    if token is None:
        return
    if token.count(".") != 2:
        mounted.problems["discord"] = "CLAWBUS_DISCORD_BOT_TOKEN does not look like a bot token"
        return
    discord.http.Route.BASE = cs.discord_api_url.rstrip("/")
    intake = DiscordIntake(publisher, max_attachment_bytes=cs.attachment_max_bytes)
    gateway = DiscordGateway(intake, token, mounted.problems)
    mounted.runners.append(
        leader_runner(ctx, f"discord:{bot_name(token)}", gateway.run, ttl_s=cs.channel_leader_ttl_s)
    )
