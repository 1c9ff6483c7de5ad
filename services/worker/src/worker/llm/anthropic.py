"""Claude through the official ``anthropic`` SDK (Messages API)."""

from __future__ import annotations

from typing import Any

import anthropic
from common import metrics
from common.errors import PermanentError, RetryableError
from common.ports import ContentBlock, LLMRequest, LLMResponse, Usage


def _retry_after(exc: anthropic.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class AnthropicLLM:
    name = "anthropic"

    def __init__(
        self, api_key: str, *, base_url: str | None = None, timeout_s: float = 120.0
    ) -> None:
        # Retries are the lane's job (backoff of the whole lane), so the SDK makes one try.
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )

    async def complete(self, request: LLMRequest) -> LLMResponse:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "system": self._system(request),
            "messages": [m.model_dump(exclude_none=True) for m in request.messages],
        }
        if request.tools:
            kwargs["tools"] = [t.model_dump() for t in request.tools]
        try:
            response = await self.client.messages.create(**kwargs)
        except anthropic.RateLimitError as exc:
            self._count(request, "retryable")
            raise RetryableError(
                f"anthropic 429: {exc.message}", retry_after=_retry_after(exc)
            ) from exc
        except anthropic.InternalServerError as exc:  # 5xx, incl. 529 overloaded
            self._count(request, "retryable")
            raise RetryableError(
                f"anthropic {exc.status_code}: {exc.message}", retry_after=_retry_after(exc)
            ) from exc
        except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
            self._count(request, "retryable")
            raise RetryableError(f"anthropic unreachable: {exc}") from exc
        except anthropic.APIStatusError as exc:
            self._count(request, "permanent")
            raise PermanentError(f"anthropic {exc.status_code}: {exc.message}") from exc
        self._count(request, "ok")
        usage = response.usage
        return LLMResponse(
            content=[ContentBlock.model_validate(b.model_dump()) for b in response.content],
            stop_reason=response.stop_reason,
            model=response.model,
            usage=Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
                cache_write_tokens=usage.cache_creation_input_tokens or 0,
            ),
        )

    @staticmethod
    def _system(request: LLMRequest) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if request.stable_system:
            blocks.append(
                {
                    "type": "text",
                    "text": request.stable_system,
                    "cache_control": {"type": "ephemeral"},
                }
            )
        if request.system:
            blocks.append({"type": "text", "text": request.system})
        return blocks

    def _count(self, request: LLMRequest, outcome: str) -> None:
        metrics.LLM_REQUESTS.labels(self.name, request.model, outcome).inc()

    async def aclose(self) -> None:
        await self.client.close()
