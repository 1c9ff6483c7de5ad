"""Choosing a model provider for an agent."""

from __future__ import annotations

from common.config import AgentConfig
from common.ports import LLM
from common.settings import Settings

from worker.llm.anthropic import AnthropicLLM
from worker.llm.echo import EchoLLM


class Providers:
    """Builds each provider once and hands the right one to each agent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[tuple[str, str | None], LLM] = {}

    def default_kind(self) -> str:
        if self.settings.llm_provider != "auto":
            return self.settings.llm_provider
        return "anthropic" if self.settings.anthropic_api_key else "echo"

    def for_agent(self, agent: AgentConfig) -> LLM:
        kind = agent.provider if agent.provider != "auto" else self.default_kind()
        key = (kind, agent.base_url)
        if key not in self._cache:
            self._cache[key] = self._build(kind, agent.base_url)
        return self._cache[key]

    def _build(self, kind: str, base_url: str | None) -> LLM:
        if kind == "anthropic":
            api_key = self.settings.anthropic_api_key
            if api_key is None:
                raise ValueError("provider anthropic needs ANTHROPIC_API_KEY")
            return AnthropicLLM(
                api_key.get_secret_value(),
                base_url=base_url or self.settings.anthropic_base_url,
            )
        if kind == "echo":
            return EchoLLM(self.settings.echo_delay_s)
        raise ValueError(f"unknown provider {kind!r}")

    def model_for(self, agent: AgentConfig) -> str:
        return agent.model or self.settings.default_model

    async def aclose(self) -> None:
        for llm in self._cache.values():
            await llm.aclose()
