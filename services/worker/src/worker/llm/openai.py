"""Local and self-hosted models through an OpenAI-compatible ``/v1/chat/completions``.

Ollama, vLLM and the llama.cpp server all speak it, tools included. Plain ``httpx``: two
translation functions (``to_payload``, ``from_payload``) and the shared error mapping.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from common import metrics
from common.errors import RetryableError
from common.ports import ContentBlock, LLMRequest, LLMResponse, ModelMessage, Usage
from common.retry import Backoff
from worker.llm.errors import Pressure, parse_retry_after, status_error, unreachable

STOP_REASONS = {
    "tool_calls": "tool_use",
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
}


def _user(message: ModelMessage) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": b.tool_use_id, "content": b.content or ""}
        for b in message.content
        if b.type == "tool_result"
    ]
    parts: list[dict[str, Any]] = []
    for b in message.content:
        if b.type == "text" and b.text:
            parts.append({"type": "text", "text": b.text})
        elif b.type == "image":
            url = f"data:{b.media_type};base64,{b.data_b64}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
    if parts and all(p["type"] == "text" for p in parts):
        out.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts)})
    elif parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant(message: ModelMessage) -> dict[str, Any]:
    text = "".join(b.text or "" for b in message.content if b.type == "text")
    out: dict[str, Any] = {"role": "assistant", "content": text or None}
    calls = [
        {
            "id": b.id,
            "type": "function",
            "function": {"name": b.name, "arguments": orjson.dumps(b.input or {}).decode()},
        }
        for b in message.content
        if b.type == "tool_use"
    ]
    if calls:
        out["tool_calls"] = calls
    return out


def to_payload(request: LLMRequest) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    system = "\n\n".join(t for t in (request.stable_system, request.system) if t)
    if system:
        messages.append({"role": "system", "content": system})
    for m in request.messages:
        if m.role == "assistant":
            messages.append(_assistant(m))
        else:
            messages += _user(m)
    payload: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
    }
    if request.tools:
        payload["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
            for t in request.tools
        ]
        payload["tool_choice"] = request.tool_choice
    return payload


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {"_unparsed_arguments": str(raw)}
    return value if isinstance(value, dict) else {"_unparsed_arguments": str(raw)}


def from_payload(data: dict[str, Any]) -> LLMResponse:
    choice = data["choices"][0]
    message = choice["message"]
    content: list[ContentBlock] = []
    if message.get("content"):
        content.append(ContentBlock(type="text", text=message["content"]))
    for call in message.get("tool_calls") or []:
        fn = call["function"]
        content.append(
            ContentBlock(
                type="tool_use", id=call["id"], name=fn["name"], input=_arguments(fn["arguments"])
            )
        )
    usage = data.get("usage") or {}
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    finish = choice.get("finish_reason")
    return LLMResponse(
        content=content,
        stop_reason=STOP_REASONS.get(finish, finish) if finish else None,
        model=str(data.get("model") or ""),
        usage=Usage(
            input_tokens=max(0, int(usage.get("prompt_tokens") or 0) - cached),
            output_tokens=int(usage.get("completion_tokens") or 0),
            cache_read_tokens=cached,
        ),
    )


class OpenAICompatibleLLM:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        busy_backoff: Backoff | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout_s
        )
        self.pressure = Pressure(busy_backoff or Backoff(2.0, 60.0))

    async def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            response = await self.client.post("chat/completions", json=to_payload(request))
        except httpx.TransportError as exc:  # includes timeouts
            raise unreachable(self.name, request.model, exc) from exc
        if response.status_code >= 400:
            raise status_error(
                self.name,
                request.model,
                response.status_code,
                _error_text(response),
                parse_retry_after(response.headers.get("retry-after")),
                self.pressure,
            )
        try:
            result = from_payload(response.json())
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            metrics.LLM_REQUESTS.labels(self.name, request.model, "retryable").inc()
            raise RetryableError(f"{self.name}: malformed completion: {exc}") from exc
        self.pressure.ok()
        metrics.LLM_REQUESTS.labels(self.name, request.model, "ok").inc()
        return result.model_copy(update={"model": result.model or request.model})

    async def aclose(self) -> None:
        await self.client.aclose()


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or body)[:500]
