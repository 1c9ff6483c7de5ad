"""Ports: the small contracts between clawbus's logic and the outside world.

Logic sees only these; adapters translate to and from a vendor SDK.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from common.bus.lanes import ScriptCall
from common.messages import DeliveryReceipt, OutboundMessage


class Channel(Protocol):
    """Sends to one platform.

    ``send`` performs one outbound effect and returns the platform's ids for it. It raises
    ``RateLimited`` on a platform 429 (with ``retry_after``), ``RetryableError`` on 5xx and
    timeouts, and ``PermanentError`` when the effect can never succeed (chat gone, bot
    removed, message too old to edit).
    """

    name: str

    async def start(self) -> None: ...

    async def send(self, message: OutboundMessage) -> DeliveryReceipt: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ReceiptingChannel(Channel, Protocol):
    """A channel whose sends land in Redis itself (the web chat): it checks the receipt,
    sends and records the receipt in one atomic step, so no crash falls between them and a
    resend is never even possible. The step is a script call, so that it can travel in the
    round trip of the lane commit that acks the send."""

    def send_call(self, message: OutboundMessage, receipt: str, ttl_s: int) -> ScriptCall:
        """The send as a script call: sends unless ``receipt`` exists, recording it in the
        same step; replies the platform id, or nil if the receipt was there."""
        ...


class ToolSpec(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]


class ContentBlock(BaseModel):
    """One block of a model message: text, tool_use, tool_result or image."""

    type: Literal["text", "tool_use", "tool_result", "image"]
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: dict[str, Any] | None = None
    tool_use_id: str | None = None
    content: str | None = None
    is_error: bool = False
    media_type: str | None = None
    data_b64: str | None = None


class ModelMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: list[ContentBlock]


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class LLMRequest(BaseModel):
    model: str
    system: str
    stable_system: str = Field(default="", description="cacheable prefix of the system prompt")
    messages: list[ModelMessage]
    tools: list[ToolSpec] = Field(default_factory=list)
    max_tokens: int = 1024
    tool_choice: Literal["auto", "none"] = Field(
        default="auto", description="'none': the model must answer without calling a tool"
    )
    cache: bool = Field(
        default=True,
        description="mark the stable prefixes (tools, system, past messages) for prompt caching",
    )


class LLMResponse(BaseModel):
    content: list[ContentBlock]
    stop_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    model: str = ""

    @property
    def text(self) -> str:
        return "".join(b.text or "" for b in self.content if b.type == "text")


class LLM(Protocol):
    """A model provider.

    ``complete`` raises ``RetryableError`` (with ``retry_after`` when the API gave one) on
    429, 529, 5xx and timeouts, and ``PermanentError`` on authentication, bad-request and
    content errors.
    """

    name: str

    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def aclose(self) -> None: ...
