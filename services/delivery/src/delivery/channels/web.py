"""The built-in web chat, outbound: append to the conversation's history and event feed."""

from __future__ import annotations

from common.bus import Streams
from common.bus.lanes import ScriptCall
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

    def send_call(self, message: OutboundMessage, receipt: str, ttl_s: int) -> ScriptCall:
        """The send, unless ``receipt`` exists, and the receipt, in one step (a script call
        the lane commit runs together with the ack); replies the entry id, or nil."""
        return self.streams.append_linked_call(*self._linked(message), receipt=(receipt, ttl_s))

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        if message.action == "typing":
            await self.streams.append(
                self.keys.webchat_events,
                {
                    "conv": message.destination.chat_id,
                    "kind": "typing",
                    "agent": message.agent,
                    "ts": str(now_ms()),
                },
                maxlen=EVENTS_MAXLEN,
            )
            return DeliveryReceipt()
        return DeliveryReceipt(
            platform_ids=[await self.streams.append_linked(*self._linked(message))]
        )

    def _linked(
        self, message: OutboundMessage
    ) -> tuple[tuple[str, int], tuple[str, int], dict[str, str], dict[str, str]]:
        """A message's append: to the conversation's history, linked into the event feed."""
        if message.action != "send":
            raise PermanentError(f"the web chat cannot {message.action} messages")
        conv = message.destination.chat_id
        fields = {
            "kind": "message",
            "role": "agent",
            "agent": message.agent,
            "text": message.text,
            "ts": str(now_ms()),
            "outbound_id": message.id,
            "possible_duplicate": "1" if message.possible_duplicate else "0",
        }
        return (
            (self.keys.webchat_history(conv), HISTORY_MAXLEN),
            (self.keys.webchat_events, EVENTS_MAXLEN),
            fields,
            {"conv": conv},
        )

    async def aclose(self) -> None:
        return None
