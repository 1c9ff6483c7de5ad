"""What every chat platform adapter shares: one ``send`` that dispatches on the action.

An adapter says how to render markdown into its chunks and how to post, edit, delete,
react and show typing; chunk bookkeeping, receipts and target resolution live here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from common.errors import PermanentError
from common.messages import DeliveryReceipt, Destination, OutboundMessage
from delivery.channels.ledger import Ledger

REPEAT_NOTE_ROOM = 64


class PlatformChannel(ABC):
    name: str

    def __init__(self, ledger: Ledger, problems: dict[str, str]) -> None:
        self.ledger = ledger
        self.problems = problems

    @abstractmethod
    def render(self, message: OutboundMessage) -> list[str]:
        """The message's text in the platform's dialect, as chunks under its limit."""

    @abstractmethod
    async def post(
        self, message: OutboundMessage, index: int, total: int, chunk: str, repeat: bool
    ) -> str:
        """Send one chunk; return its platform id. ``repeat``: it may already be there."""

    @abstractmethod
    async def edit(self, dest: Destination, platform_id: str, chunk: str) -> None: ...

    @abstractmethod
    async def delete(self, dest: Destination, platform_id: str) -> None: ...

    @abstractmethod
    async def react(self, dest: Destination, platform_id: str, emoji: str) -> None: ...

    @abstractmethod
    async def typing(self, dest: Destination) -> None: ...

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        dest = message.destination
        if message.action == "typing":
            await self.typing(dest)
            return DeliveryReceipt()
        if message.action == "react":
            if not message.target_id or not message.emoji:
                raise PermanentError("a reaction needs target_id and emoji")
            ids = await self.ledger.resolve(message.target_id)
            await self.react(dest, ids[0], message.emoji)
            return DeliveryReceipt()
        chunks = self.render(message)
        if not chunks:
            raise PermanentError("nothing to send: the message text is empty")
        if message.action == "edit":
            if not message.target_id:
                raise PermanentError("an edit needs target_id")

            async def edit(platform_id: str, chunk: str) -> None:
                await self.edit(dest, platform_id, chunk)

            async def delete(platform_id: str) -> None:
                await self.delete(dest, platform_id)

            return await self.ledger.edit_chunks(
                message.id,
                message.target_id,
                chunks,
                edit=edit,
                send=lambda i, chunk, repeat: self.post(message, i, len(chunks), chunk, repeat),
                delete=delete,
            )
        return await self.ledger.send_chunks(
            message.id,
            chunks,
            lambda i, chunk, repeat: self.post(message, i, len(chunks), chunk, repeat),
        )

    async def reply_target(self, message: OutboundMessage) -> str | None:
        """The platform id the first chunk answers (an outbound id is looked up)."""
        if not message.reply_to:
            return None
        return (await self.ledger.resolve(message.reply_to))[0]


def buttons_as_text(message: OutboundMessage) -> str:
    """For platforms without native buttons here: the choices as a list to answer with."""
    if not message.buttons:
        return message.text
    lines = "\n".join(f"- {b.label}: reply `{b.value}`" for b in message.buttons)
    return f"{message.text}\n\n{lines}"
