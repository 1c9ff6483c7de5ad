"""Telegram update -> ``InboundMessage``: pure functions.

Private chats are DMs; a forum topic is a thread (``message_thread_id``); ``@bot`` (or a
text mention of the bot, or ``/command@bot``) is a mention; answering one of the bot's
messages is ``reply_to_bot``. A button press (``callback_query``) is a message whose text
is the button's value. Entity offsets are in UTF-16 code units, as Telegram counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.messages import Attachment, InboundMessage, Sender
from ingest.channels.downloads import Kind, attachment_kind
from ingest.publisher import message_id


@dataclass(frozen=True, slots=True)
class TelegramBot:
    id: int
    username: str


def entity_text(text: str, offset: int, length: int) -> str:
    raw = text.encode("utf-16-le")
    return raw[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


def mentions_bot(msg: dict[str, Any], bot: TelegramBot) -> bool:
    text = msg.get("text") or msg.get("caption") or ""
    handle = "@" + bot.username.lower()
    for ent in msg.get("entities") or msg.get("caption_entities") or []:
        kind = ent.get("type")
        if kind == "text_mention" and (ent.get("user") or {}).get("id") == bot.id:
            return True
        if kind in ("mention", "bot_command"):
            word = entity_text(text, ent.get("offset", 0), ent.get("length", 0)).lower()
            if word == handle or word.endswith(handle):
                return True
    return False


def display_name(user: dict[str, Any]) -> str | None:
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
    return name or user.get("username")


def attachments(msg: dict[str, Any]) -> list[Attachment]:
    out = []
    if msg.get("photo"):
        best = msg["photo"][-1]  # sizes come smallest first
        out.append(
            Attachment(
                kind="image",
                name="photo.jpg",
                mime_type="image/jpeg",
                size=best.get("file_size"),
                platform_id=best.get("file_id"),
            )
        )
    for field in ("document", "audio", "voice", "video", "video_note", "animation", "sticker"):
        item = msg.get(field)
        if not item:
            continue
        mime = item.get("mime_type") or ("image/webp" if field == "sticker" else None)
        out.append(
            Attachment(
                kind=attachment_kind(mime) if field in ("document", "sticker") else _kind(field),
                name=item.get("file_name"),
                mime_type=mime,
                size=item.get("file_size"),
                platform_id=item.get("file_id"),
            )
        )
    return out


def _kind(field: str) -> Kind:
    return "audio" if field in ("audio", "voice") else "video"


def _thread(msg: dict[str, Any]) -> str | None:
    if msg.get("is_topic_message") and msg.get("message_thread_id"):
        return str(msg["message_thread_id"])
    return None


def message_to_inbound(update: dict[str, Any], bot: TelegramBot) -> InboundMessage | None:
    """A new or edited message; None for anything else or the bot's own messages."""
    edited = "edited_message" in update
    msg = update.get("edited_message") if edited else update.get("message")
    if not msg or "chat" not in msg:
        return None
    user = msg.get("from") or {}
    if user.get("id") == bot.id:
        return None
    chat = msg["chat"]
    chat_id, mid = str(chat["id"]), str(msg["message_id"])
    reply = msg.get("reply_to_message") or {}
    if reply.get("forum_topic_created"):
        reply = {}  # in a topic every message "replies" to the topic's first message
    platform_key = f"{mid}:edit:{msg.get('edit_date', '')}" if edited else mid
    return InboundMessage(
        channel="telegram",
        chat_id=chat_id,
        thread_id=_thread(msg),
        message_id=message_id("telegram", chat_id, platform_key),
        platform_message_id=mid,
        sender=Sender(
            id=str(user.get("id", chat_id)),
            name=display_name(user) or chat.get("title"),
            is_bot=bool(user.get("is_bot")),
        ),
        text=msg.get("text") or msg.get("caption") or "",
        sent_ms=int(msg.get("edit_date") if edited else msg.get("date", 0)) * 1000,
        is_dm=chat.get("type") == "private",
        is_mention=mentions_bot(msg, bot),
        reply_to=str(reply["message_id"]) if reply.get("message_id") else None,
        reply_to_bot=(reply.get("from") or {}).get("id") == bot.id,
        edited=edited,
        attachments=attachments(msg),
        chat_name=chat.get("title") or chat.get("username"),
    )


def callback_to_inbound(
    query: dict[str, Any], value: str, bot: TelegramBot, *, now_ms: int
) -> InboundMessage | None:
    """A button press as a message answering the bot's message that had the button."""
    msg = query.get("message") or {}
    if "chat" not in msg:
        return None
    chat = msg["chat"]
    chat_id = str(chat["id"])
    user = query.get("from") or {}
    return InboundMessage(
        channel="telegram",
        chat_id=chat_id,
        thread_id=_thread(msg),
        message_id=message_id("telegram", chat_id, f"callback:{query['id']}"),
        sender=Sender(id=str(user.get("id", "")), name=display_name(user)),
        text=value,
        sent_ms=now_ms,
        is_dm=chat.get("type") == "private",
        reply_to=str(msg.get("message_id")),
        reply_to_bot=(msg.get("from") or {}).get("id", bot.id) == bot.id,
        chat_name=chat.get("title") or chat.get("username"),
    )
