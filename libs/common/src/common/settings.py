"""Settings shared by every service: pydantic-settings, env prefix ``CLAWBUS_``.

Any field can also come from a file named by ``CLAWBUS_<FIELD>_FILE`` (Kubernetes and
Docker secrets), which wins over the plain variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "CLAWBUS_"


class FileSecretsSource(PydanticBaseSettingsSource):
    """Reads ``CLAWBUS_<NAME>_FILE`` for every field and returns the file's stripped text."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        path = os.environ.get(f"{ENV_PREFIX}{field_name.upper()}_FILE")
        if not path:
            return None, field_name, False
        return Path(path).read_text().strip(), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


class FileFirstSettings(BaseSettings):
    """Base of clawbus's settings classes: keyword arguments, then ``*_FILE``, then the
    environment, then ``.env``."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, FileSecretsSource(settings_cls), env_settings, dotenv_settings)


class Settings(FileFirstSettings):
    """Everything a clawbus process needs to know; build it in ``main()``, never at import."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    # the hash tag every key of the install carries (common.keys): no braces or colons
    namespace: str = Field(default="clawbus", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    config_path: Path = Path("clawbus.yaml")
    timezone: str = "UTC"

    http_host: str = "127.0.0.1"
    http_port: int = 0
    log_level: str = "INFO"
    log_json: bool = True
    # The niceness a service takes at start, on a host whose cores it shares with the other
    # services: see ``lifecycle.yield_cpu``. Never below the one it was started with.
    nice: int = Field(default=0, ge=0, le=19)

    # lanes
    partitions: int = Field(default=1, ge=1, le=256)
    lease_ttl_s: float = Field(default=10.0, gt=0)
    poll_interval_s: float = Field(default=0.25, gt=0)
    batch_size: int = Field(default=50, ge=1)
    max_attempts: int = Field(default=5, ge=1)
    retry_base_s: float = 0.5
    retry_max_s: float = 30.0
    dedup_window_s: float = 900.0
    dlq_maxlen: int = 10_000

    # capacity
    worker_concurrency: int = Field(default=8, ge=1)
    agent_max_concurrency: int = Field(default=16, ge=1)
    router_concurrency: int = Field(default=256, ge=1)
    delivery_concurrency: int = Field(default=256, ge=1)
    agent_run_timeout_s: float = 300.0
    drain_grace_s: float = 20.0

    # ingest
    ingest_token: SecretStr | None = None
    webchat_token: SecretStr | None = None
    max_message_bytes: int = 64 * 1024
    backlog_limit: int = 10_000
    retry_after_s: int = 2

    # generic HTTP channel, outbound webhook
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = 10.0

    # agent runtime
    llm_provider: str = "auto"
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "anthropic_api_key", "CLAWBUS_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"
        ),
    )
    anthropic_base_url: str | None = None
    default_model: str = "claude-sonnet-4-6"
    echo_delay_s: float = 0.0
