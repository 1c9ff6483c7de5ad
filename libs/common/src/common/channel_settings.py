"""Platform channel settings: a channel is enabled by its credentials being present.

Read from ``CLAWBUS_<FIELD>`` or ``CLAWBUS_<FIELD>_FILE`` like every other setting. The
``*_api_url`` fields exist so tests (and proxies) can point each vendor SDK elsewhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from common.settings import ENV_PREFIX, FileFirstSettings


class ChannelSettings(FileFirstSettings):
    """Credentials and endpoints of Slack, Discord and Telegram; build it in ``main()``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # Slack: Events API over HTTP needs the signing secret; Socket Mode needs the app token.
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # Discord: the gateway in ingest, REST in delivery.
    discord_bot_token: SecretStr | None = None
    discord_api_url: str = "https://discord.com/api/v10"

    # Telegram: webhook when a webhook secret is set (or mode says so), else long polling.
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_mode: Literal["auto", "webhook", "polling"] = "auto"
    telegram_api_url: str = "https://api.telegram.org"
    telegram_poll_timeout_s: int = Field(default=25, ge=0, le=50)

    # shared
    channel_leader_ttl_s: float = Field(default=15.0, gt=0)
    channel_timeout_s: float = Field(default=15.0, gt=0)
    attachment_max_bytes: int = Field(default=5 * 1024 * 1024, ge=0)

    @property
    def telegram_webhook(self) -> bool:
        """Whether Telegram updates arrive by webhook rather than long polling."""
        if self.telegram_mode == "auto":
            return self.telegram_webhook_secret is not None
        return self.telegram_mode == "webhook"


def secret(value: SecretStr | None) -> str | None:
    """The plain value of an optional secret, with blank treated as unset."""
    if value is None:
        return None
    return value.get_secret_value().strip() or None
