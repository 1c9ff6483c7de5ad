from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from common.settings import Settings


class WorkerSettings(Settings):
    http_port: int = 9102
    # the installed SDK marks claude-sonnet-4-5 deprecated (a warning on every call)
    default_model: str = "claude-sonnet-4-6"

    # OpenAI-compatible endpoints (Ollama, vLLM, llama.cpp server): the agent's base_url wins
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("openai_api_key", "CLAWBUS_OPENAI_API_KEY", "OPENAI_API_KEY"),
    )
    llm_timeout_s: float = Field(default=120.0, gt=0, description="one model API call")
    overload_backoff_base_s: float = 2.0
    overload_backoff_max_s: float = 60.0
    typing_interval_s: float = Field(default=5.0, gt=0, description="typing refresh period")
    typing_delay_s: float = Field(
        default=0.5, ge=0, description="a run shows typing only once it has taken this long"
    )
    history_cache_items: int = Field(
        default=4096,
        ge=0,
        description=(
            "parsed history items kept between runs (about 7 KB each for 1 KB of JSON), and"
            " at most as many items of the histories this worker wrote last, kept as written"
        ),
    )
