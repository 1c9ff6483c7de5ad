"""Slack event -> ``InboundMessage``: a pure function.

A message's identity is its channel and ``ts`` (the same for the ``message`` and the
``app_mention`` event of one message, and for Slack's retries), so the lane's dedup by
message id accepts each message once. An edit is a new message marked ``edited``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from common.messages import Attachment, InboundMessage, Sender
from ingest.channels.downloads import attachment_kind
from ingest.publisher import message_id

KEPT_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}
USER_REF = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]+))?>")
LINK_REF = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")
CHANNEL_REF = re.compile(r"<#[CG][A-Z0-9]+\|([^>]*)>")
SPECIAL_REF = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")


@dataclass(frozen=True, slots=True)
class SlackBot:
    """Who the bot is: its user id (mentions) and bot id (its own messages)."""

    user_id: str | None = None
    bot_id: str | None = None


def plain_text(text: str, bot: SlackBot, bot_name: str = "bot") -> str:
    """Slack's markup made readable: ``<@U1>`` -> ``@U1``, ``<url|label>`` -> ``label (url)``."""

    def user(m: re.Match[str]) -> str:
        if m.group(1) == bot.user_id:
            return f"@{bot_name}"
        return "@" + (m.group(2) or m.group(1))

    text = USER_REF.sub(user, text)
    text = LINK_REF.sub(
        lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text
    )
    text = CHANNEL_REF.sub(lambda m: "#" + m.group(1), text)
    text = SPECIAL_REF.sub(lambda m: "@" + m.group(1), text)
    return html.unescape(text)


def _body(event: dict[str, Any]) -> tuple[dict[str, Any], bool] | None:
    subtype = event.get("subtype")
    if subtype == "message_changed":
        inner = dict(event.get("message") or {})
        before = event.get("previous_message") or {}
        if inner.get("text") == before.get("text"):
            return None  # a link preview or a reply count changed, not the text
        inner.setdefault("channel", event.get("channel"))
        inner.setdefault("channel_type", event.get("channel_type"))
        return inner, True
    if subtype in KEPT_SUBTYPES:
        return event, False
    return None


def attachments(msg: dict[str, Any]) -> list[Attachment]:
    out = []
    for f in msg.get("files") or []:
        mime = f.get("mimetype")
        out.append(
            Attachment(
                kind=attachment_kind(mime),
                name=f.get("name") or f.get("title"),
                mime_type=mime,
                size=f.get("size"),
                url=f.get("url_private_download") or f.get("url_private"),
                platform_id=f.get("id"),
            )
        )
    return out


def to_inbound(
    event: dict[str, Any], bot: SlackBot, *, team: str | None = None
) -> InboundMessage | None:
    """The message an Events API ``event`` carries, or None for events that are not one."""
    if event.get("type") not in ("message", "app_mention"):
        return None
    found = _body(event)
    if found is None:
        return None
    msg, edited = found
    user, bot_id = msg.get("user"), msg.get("bot_id")
    if not user and not bot_id:
        return None
    if (user and user == bot.user_id) or (bot_id and bot_id == bot.bot_id):
        return None
    channel, ts = str(msg.get("channel") or ""), str(msg.get("ts") or "")
    if not channel or not ts:
        return None
    raw = msg.get("text") or ""
    thread_ts = msg.get("thread_ts")
    thread_id = str(thread_ts) if thread_ts and thread_ts != ts else None
    profile = msg.get("user_profile") or {}
    edit_ts = (msg.get("edited") or {}).get("ts") or event.get("event_ts") or ""
    return InboundMessage(
        channel="slack",
        chat_id=channel,
        thread_id=thread_id,
        message_id=message_id("slack", channel, f"{ts}:edit:{edit_ts}" if edited else ts),
        platform_message_id=ts,
        sender=Sender(
            id=str(user or bot_id),
            name=profile.get("display_name") or profile.get("real_name") or msg.get("username"),
            is_bot=bool(bot_id) and not user,
        ),
        text=plain_text(raw, bot),
        sent_ms=int(float(edit_ts if edited and edit_ts else ts) * 1000),
        is_dm=msg.get("channel_type") == "im" or channel.startswith("D"),
        is_mention=event.get("type") == "app_mention"
        or bool(bot.user_id and f"<@{bot.user_id}" in raw),
        reply_to=thread_id,
        reply_to_bot=bool(thread_id and bot.user_id and msg.get("parent_user_id") == bot.user_id),
        edited=edited,
        attachments=attachments(msg),
        bot=team,
    )
