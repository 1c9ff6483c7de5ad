"""The built-in web chat, outbound: append to the conversation's history and event feed."""

from __future__ import annotations

from common.bus import Streams
from common.envelope import now_ms
from common.errors import PermanentError
from common.keys import Keys
from common.messages import DeliveryReceipt, OutboundMessage

HISTORY_MAXLEN = 2000
EVENTS_MAXLEN = 10_000


class WebChatChannel:
    name = "web"

    def __init__(self, streams: Streams, keys: Keys) -> None:
        self.streams = streams
        self.keys = keys

    async def start(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        sent = await self._send(message, None)
        assert sent is not None  # without a receipt key the append always happens
        return sent

    async def send_once(
        self, message: OutboundMessage, receipt: str, ttl_s: int
    ) -> DeliveryReceipt | None:
        """Send and record the receipt in one atomic step; None if it was sent before."""
        return await self._send(message, (receipt, ttl_s))

    async def _send(
        self, message: OutboundMessage, receipt: tuple[str, int] | None
    ) -> DeliveryReceipt | None:
        conv = message.destination.chat_id
        if message.action == "typing":
            await self.streams.append(
                self.keys.webchat_events,
                {"conv": conv, "kind": "typing", "agent": message.agent, "ts": str(now_ms())},
                maxlen=EVENTS_MAXLEN,
            )
            return DeliveryReceipt()
        if message.action != "send":
            raise PermanentError(f"the web chat cannot {message.action} messages")
        fields = {
            "kind": "message",
            "role": "agent",
            "agent": message.agent,
            "text": message.text,
            "ts": str(now_ms()),
            "outbound_id": message.id,
            "possible_duplicate": "1" if message.possible_duplicate else "0",
        }
        entry_id = await self.streams.append_linked(
            (self.keys.webchat_history(conv), HISTORY_MAXLEN),
            (self.keys.webchat_events, EVENTS_MAXLEN),
            fields,
            {"conv": conv},
            receipt=receipt,
        )
        return None if entry_id is None else DeliveryReceipt(platform_ids=[entry_id])

    async def aclose(self) -> None:
        return None
