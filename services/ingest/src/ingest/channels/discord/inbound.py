"""A ``discord.Message`` (parsed by discord.py from a gateway payload) -> ``InboundMessage``.

A thread is a thread of its parent channel (``chat_id`` = parent, ``thread_id`` = thread);
a message with no guild is a DM; a mention of the bot's user is a mention; a reply to one
of the bot's messages is ``reply_to_bot``.
"""

from __future__ import annotations

import discord

from common.messages import Attachment, InboundMessage, Sender
from ingest.channels.downloads import attachment_kind
from ingest.publisher import message_id

KEPT_TYPES = {discord.MessageType.default, discord.MessageType.reply}


def attachments(message: discord.Message) -> list[Attachment]:
    return [
        Attachment(
            kind=attachment_kind(a.content_type),
            name=a.filename,
            mime_type=a.content_type,
            size=a.size,
            url=a.url,
            platform_id=str(a.id),
        )
        for a in message.attachments
    ]


def text_of(message: discord.Message, bot_user_id: int) -> str:
    """The content with user mentions as ``@name`` (the bot's own as ``@<its name>``)."""
    text = message.content
    for user in message.mentions:
        name = "@" + (user.display_name or user.name)
        text = text.replace(f"<@{user.id}>", name).replace(f"<@!{user.id}>", name)
    return text


def to_inbound(
    message: discord.Message, bot_user_id: int, *, edited: bool = False
) -> InboundMessage | None:
    if message.author.id == bot_user_id or message.type not in KEPT_TYPES:
        return None
    channel = message.channel
    chat_id, thread_id = str(channel.id), None
    if isinstance(channel, discord.Thread):
        chat_id, thread_id = str(channel.parent_id), str(channel.id)
    ref = message.reference
    reply_to = str(ref.message_id) if ref is not None and ref.message_id else None
    resolved = ref.resolved if ref is not None else None
    when = message.edited_at if edited and message.edited_at else message.created_at
    key = f"{message.id}:edit:{when.timestamp()}" if edited else str(message.id)
    return InboundMessage(
        channel="discord",
        chat_id=chat_id,
        thread_id=thread_id,
        message_id=message_id("discord", chat_id, key),
        platform_message_id=str(message.id),
        sender=Sender(
            id=str(message.author.id),
            name=message.author.display_name,
            is_bot=message.author.bot,
        ),
        text=text_of(message, bot_user_id),
        sent_ms=int(when.timestamp() * 1000),
        is_dm=message.guild is None,
        is_mention=any(u.id == bot_user_id for u in message.mentions),
        reply_to=reply_to,
        reply_to_bot=isinstance(resolved, discord.Message) and resolved.author.id == bot_user_id,
        edited=edited,
        attachments=attachments(message),
        chat_name=getattr(channel, "name", None),
    )
