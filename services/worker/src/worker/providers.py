"""Choosing a model provider and model for an agent."""

from __future__ import annotations

from common.config import AgentConfig
from common.errors import PermanentError
from common.ports import LLM
from common.retry import Backoff
from worker.llm.echo import EchoLLM
from worker.llm.openai import OpenAICompatibleLLM
from worker.settings import WorkerSettings


class ProviderError(PermanentError):
    """An agent names a provider that cannot be built with this configuration."""


class Providers:
    """Builds each provider once and hands the right one to each agent.

    ``auto`` means Anthropic when an API key is set, otherwise the offline echo provider.
    """

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.busy_backoff = Backoff(
            settings.overload_backoff_base_s, settings.overload_backoff_max_s
        )
        self._cache: dict[tuple[str, str | None], LLM] = {}

    def default_kind(self) -> str:
        if self.settings.llm_provider != "auto":
            return self.settings.llm_provider
        return "anthropic" if self.settings.anthropic_api_key else "echo"

    def kind_for(self, agent: AgentConfig) -> str:
        return agent.provider if agent.provider != "auto" else self.default_kind()

    def for_agent(self, agent: AgentConfig) -> LLM:
        kind = self.kind_for(agent)
        key = (kind, agent.base_url)
        if key not in self._cache:
            self._cache[key] = self._build(kind, agent.base_url)
        return self._cache[key]

    def model_for(self, agent: AgentConfig) -> str:
        if self.kind_for(agent) == "echo":
            return "echo"
        return agent.model or self.settings.default_model

    def _build(self, kind: str, base_url: str | None) -> LLM:
        s = self.settings
        if kind == "anthropic":
            if s.anthropic_api_key is None:
                raise ProviderError("provider anthropic needs ANTHROPIC_API_KEY")
            # imported here: the SDK's types take over a second to import, which every
            # worker start (and restart after a crash) would pay without using them
            from worker.llm.anthropic import AnthropicLLM

            return AnthropicLLM(
                s.anthropic_api_key.get_secret_value(),
                base_url=base_url or s.anthropic_base_url,
                timeout_s=s.llm_timeout_s,
                busy_backoff=self.busy_backoff,
            )
        if kind == "openai":
            url = base_url or s.openai_base_url
            if url is None:
                raise ProviderError("provider openai needs the agent's base_url")
            key = s.openai_api_key.get_secret_value() if s.openai_api_key else None
            return OpenAICompatibleLLM(
                url, api_key=key, timeout_s=s.llm_timeout_s, busy_backoff=self.busy_backoff
            )
        if kind == "echo":
            return EchoLLM(s.echo_delay_s)
        raise ProviderError(f"unknown provider {kind!r}")

    async def aclose(self) -> None:
        for llm in self._cache.values():
            await llm.aclose()
