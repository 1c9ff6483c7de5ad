"""Slack Socket Mode: events over a WebSocket the app opens (no public URL needed).

Each envelope is acknowledged only after its message is published; an envelope that
could not be published is left unacknowledged, so Slack sends it again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from ingest.channels.slack.intake import SlackIntake

log = logging.getLogger("clawbus.ingest.slack")


class SlackSocket:
    def __init__(self, intake: SlackIntake, app_token: str, web: AsyncWebClient) -> None:
        self.intake = intake
        self.app_token = app_token
        self.web = web

    async def on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        if req.type != "events_api":
            await client.send_socket_mode_response(SocketModeResponse(req.envelope_id))
            return
        payload: dict[str, Any] = req.payload
        try:
            await self.intake.handle(payload)
        except Exception as exc:
            log.warning("slack event not accepted; Slack will resend", extra={"error": repr(exc)})
            return
        await client.send_socket_mode_response(SocketModeResponse(req.envelope_id))

    async def run(self) -> None:
        """Stay connected until cancelled; the SDK reconnects dropped sockets itself."""
        await self.intake.check()
        client = SocketModeClient(app_token=self.app_token, web_client=self.web)
        client.socket_mode_request_listeners.append(self.on_request)  # type: ignore[arg-type]
        try:
            await client.connect()  # type: ignore[no-untyped-call]
            log.info("slack socket mode connected")
            await asyncio.Event().wait()
        finally:
            await client.close()  # type: ignore[no-untyped-call]
