"""Slack events in: normalise, add names and images, publish durably, then ack.

Both transports (the Events API route and Socket Mode) hand every event envelope here,
and answer Slack only after ``handle`` returned: a failure makes Slack retry, and the
retry is accepted once because message ids are deterministic.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from common.messages import InboundMessage
from ingest.channels.downloads import fetch_b64
from ingest.channels.slack.events import SlackBot, to_inbound
from ingest.publisher import Accepted, Publisher

log = logging.getLogger("clawbus.ingest.slack")

NAME_TTL_S = 3600.0
NAME_RETRY_S = 60.0  # a lookup that failed (rate limited, say) is tried again this soon
NAME_CACHE_MAX = 10_000  # senders' names kept; past it, the expired go, then the oldest
DOWNLOAD_S = 2.5  # Slack wants an answer within 3 s; a slower image is described only


class SlackIntake:
    def __init__(
        self,
        publisher: Publisher,
        web: AsyncWebClient,
        *,
        token: str,
        max_attachment_bytes: int,
        problems: dict[str, str],
        timeout_s: float = 10.0,
    ) -> None:
        self.publisher = publisher
        self.web = web
        self.token = token
        self.max_attachment_bytes = max_attachment_bytes
        self.problems = problems
        self.http = httpx.AsyncClient(timeout=min(timeout_s, DOWNLOAD_S), follow_redirects=True)
        self.identity: SlackBot | None = None
        self.names: dict[str, tuple[str | None, float]] = {}

    async def check(self) -> SlackBot | None:
        """Who the bot is (``auth.test``); a refused token is reported as a problem."""
        if self.identity is not None:
            return self.identity
        try:
            auth = await self.web.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error")
            self.problems["slack"] = f"auth.test failed ({error}); check CLAWBUS_SLACK_BOT_TOKEN"
            log.error("slack token refused", extra={"error": error})
            return None
        except Exception as exc:
            log.warning("slack auth.test failed", extra={"error": repr(exc)})
            return None
        self.problems.pop("slack", None)
        self.identity = SlackBot(user_id=auth.get("user_id"), bot_id=auth.get("bot_id"))
        return self.identity

    async def handle(self, payload: dict[str, Any], trace_id: str | None = None) -> Accepted | None:
        """Publish the message an ``event_callback`` carries; None when it carries none."""
        if payload.get("type") != "event_callback":
            return None
        bot = await self.check() or _from_authorizations(payload)
        msg = to_inbound(payload.get("event") or {}, bot)
        if msg is None:
            return None
        msg = await self._enrich(msg)
        return await self.publisher.accept(msg, trace_id)

    async def _enrich(self, msg: InboundMessage) -> InboundMessage:
        update: dict[str, Any] = {}
        if msg.sender.name is None and not msg.sender.is_bot:
            name = await self._name(msg.sender.id)
            if name:
                update["sender"] = msg.sender.model_copy(update={"name": name})
        files = []
        for att in msg.attachments:
            if att.kind == "image" and att.url and (att.size or 0) <= self.max_attachment_bytes:
                data = await fetch_b64(
                    self.http,
                    att.url,
                    max_bytes=self.max_attachment_bytes,
                    headers={"Authorization": f"Bearer {self.token}"},
                )
                att = att.model_copy(update={"data_b64": data})
            files.append(att)
        if files:
            update["attachments"] = files
        return msg.model_copy(update=update) if update else msg

    async def _name(self, user: str) -> str | None:
        cached = self.names.get(user)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        ttl = NAME_TTL_S
        try:
            info = await self.web.users_info(user=user)
            profile = (info.get("user") or {}).get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or None
        except Exception as exc:
            log.info("slack users.info failed", extra={"error": repr(exc)})
            name, ttl = None, NAME_RETRY_S
        if user not in self.names and len(self.names) >= NAME_CACHE_MAX:
            self._trim_names()
        self.names[user] = (name, time.monotonic() + ttl)
        return name

    def _trim_names(self) -> None:
        now = time.monotonic()
        kept = {u: v for u, v in self.names.items() if v[1] > now}
        # still full: the oldest half goes (a dict keeps insertion order)
        if len(kept) >= NAME_CACHE_MAX:
            kept = dict(list(kept.items())[len(kept) // 2 :])
        self.names = kept

    async def aclose(self) -> None:
        await self.http.aclose()


def _from_authorizations(payload: dict[str, Any]) -> SlackBot:
    """The bot's user id as the event envelope states it (when auth.test is unavailable)."""
    for auth in payload.get("authorizations") or []:
        if auth.get("is_bot"):
            return SlackBot(user_id=auth.get("user_id"))
    return SlackBot()
