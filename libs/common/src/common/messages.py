"""Payloads carried in envelopes between the services."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ChannelName = str  # "web", "http", "slack", "discord", "telegram"


class Sender(BaseModel):
    id: str
    name: str | None = None
    is_bot: bool = False

    def handle(self, channel: str) -> str:
        """The user handle ``<channel>:<id>`` used by roles and membership."""
        return f"{channel}:{self.id}"


class Attachment(BaseModel):
    kind: Literal["image", "file", "audio", "video", "other"] = "file"
    name: str | None = None
    mime_type: str | None = None
    size: int | None = None
    url: str | None = None
    data_b64: str | None = Field(default=None, description="downloaded content (images only)")
    platform_id: str | None = Field(
        default=None, description="the platform's own id for the file (e.g. a Telegram file_id)"
    )


class Destination(BaseModel):
    """A chat to send to: a platform chat and optionally a thread in it."""

    channel: ChannelName
    chat_id: str
    thread_id: str | None = None
    bot: str | None = None

    @property
    def lane(self) -> str:
        """Deliver-lane key: one ordered lane per destination chat."""
        return f"{self.channel}:{self.chat_id}"


class InboundMessage(BaseModel):
    """A platform event normalised: what every channel's inbound function produces."""

    channel: ChannelName
    chat_id: str
    message_id: str
    sender: Sender
    text: str
    sent_ms: int
    thread_id: str | None = None
    platform_message_id: str | None = None
    is_dm: bool = False
    is_mention: bool = False
    reply_to: str | None = None
    reply_to_bot: bool = False
    edited: bool = False
    attachments: list[Attachment] = Field(default_factory=list)
    bot: str | None = None
    chat_name: str | None = None

    @property
    def conversation(self) -> str:
        """Route-lane key: one ordered lane per platform chat."""
        return f"{self.channel}:{self.chat_id}"

    def destination(self) -> Destination:
        return Destination(
            channel=self.channel, chat_id=self.chat_id, thread_id=self.thread_id, bot=self.bot
        )


class AgentInput(BaseModel):
    """An entry of an agent lane: something the agent of a session should see."""

    kind: Literal["message", "task", "system"]
    agent: str
    session: str
    reply_to: Destination
    message: InboundMessage | None = None
    text: str = ""
    task_id: str | None = None
    silent: bool = Field(default=False, description="context only: the agent must not answer")


class Button(BaseModel):
    label: str
    value: str


class OutboundMessage(BaseModel):
    """An entry of a deliver lane: one effect on a platform."""

    id: str
    action: Literal["send", "edit", "react", "typing"] = "send"
    destination: Destination
    agent: str
    session: str
    text: str = ""
    reply_to: str | None = None
    target_id: str | None = Field(default=None, description="outbound id or platform id to edit")
    emoji: str | None = None
    buttons: list[Button] = Field(default_factory=list)
    possible_duplicate: bool = False


class DeliveryReceipt(BaseModel):
    platform_ids: list[str] = Field(default_factory=list)


class TaskSchedule(BaseModel):
    kind: Literal["once", "cron", "interval"] = "once"
    at_ms: int | None = None
    cron: str | None = None
    every_s: float | None = None


class Task(BaseModel):
    id: str
    agent: str
    session: str
    destination: Destination
    prompt: str
    schedule: TaskSchedule
    status: Literal["active", "paused", "done", "cancelled"] = "active"
    next_ms: int | None = None
    created_ms: int = 0


class TaskCommand(BaseModel):
    """An entry of a control lane: a change to scheduled tasks."""

    action: Literal["create", "update", "pause", "resume", "cancel"]
    task: Task | None = None
    task_id: str | None = None
    prompt: str | None = None
    schedule: TaskSchedule | None = None
