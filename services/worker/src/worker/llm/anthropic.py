"""Claude through the official ``anthropic`` SDK (Messages API).

Two translation functions (``to_params``, ``from_message``) and error mapping; the SDK makes
one try per call (``max_retries=0``) because retrying is the lane's job.
"""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.types import Message

from common import metrics
from common.ports import ContentBlock, LLMRequest, LLMResponse, ModelMessage, Usage
from common.retry import Backoff
from worker.llm.errors import Pressure, parse_retry_after, status_error, unreachable

CACHE = {"type": "ephemeral"}


def _block(block: ContentBlock) -> dict[str, Any]:
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input or {}}
    if block.type == "tool_result":
        return {
            "type": "tool_result",
            "tool_use_id": block.tool_use_id,
            "content": block.content or "",
            "is_error": block.is_error,
        }
    if block.type == "image":
        source = {"type": "base64", "media_type": block.media_type, "data": block.data_b64}
        return {"type": "image", "source": source}
    return {"type": "text", "text": block.text or ""}


def _message(message: ModelMessage) -> dict[str, Any]:
    return {"role": message.role, "content": [_block(b) for b in message.content]}


def to_params(request: LLMRequest) -> dict[str, Any]:
    """Messages API parameters; with ``cache`` on, breakpoints after the tools, each system
    block and the last message, so a follow-up call re-reads all of it from the cache."""
    system: list[dict[str, Any]] = [
        {"type": "text", "text": text} for text in (request.stable_system, request.system) if text
    ]
    messages = [_message(m) for m in request.messages]
    tools: list[dict[str, Any]] = [t.model_dump() for t in request.tools]
    if request.cache:  # four breakpoints, the API's maximum
        for item in system:
            item["cache_control"] = CACHE
        if tools:
            tools[-1]["cache_control"] = CACHE
        if messages and messages[-1]["content"]:
            messages[-1]["content"][-1]["cache_control"] = CACHE
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": messages,
    }
    if system:
        params["system"] = system
    if tools:
        params["tools"] = tools
        params["tool_choice"] = {"type": request.tool_choice}
    return params


def from_message(message: Message) -> LLMResponse:
    content: list[ContentBlock] = []
    for block in message.content:
        if block.type == "text" and block.text:  # the API refuses empty text blocks back
            content.append(ContentBlock(type="text", text=block.text))
        elif block.type == "tool_use":
            content.append(
                ContentBlock(type="tool_use", id=block.id, name=block.name, input=block.input)
            )
    usage = message.usage
    return LLMResponse(
        content=content,
        stop_reason=message.stop_reason,
        model=message.model,
        usage=Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            cache_write_tokens=usage.cache_creation_input_tokens or 0,
        ),
    )


class AnthropicLLM:
    name = "anthropic"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        busy_backoff: Backoff | None = None,
    ) -> None:
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )
        self.pressure = Pressure(busy_backoff or Backoff(2.0, 60.0))

    async def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            message = await self.client.messages.create(**to_params(request))
        except anthropic.APIStatusError as exc:
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            message_text = exc.api_message or exc.message
            raise status_error(
                self.name, request.model, exc.status_code, message_text, retry_after, self.pressure
            ) from exc
        except anthropic.APIConnectionError as exc:  # includes timeouts
            raise unreachable(self.name, request.model, exc) from exc
        self.pressure.ok()
        metrics.LLM_REQUESTS.labels(self.name, request.model, "ok").inc()
        return from_message(message)

    async def aclose(self) -> None:
        await self.client.close()
