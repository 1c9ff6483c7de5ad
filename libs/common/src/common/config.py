"""The declarative configuration: agents, chats, wiring, users, destinations.

One YAML file is the source of truth (GitOps- and ConfigMap-friendly). Runtime state
lives in Redis. A missing file means the built-in default: one agent answering every
web chat and generic HTTP conversation.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.messages import Destination

ALL_TOOLS = (
    "send_message",
    "edit_message",
    "add_reaction",
    "ask_user_question",
    "schedule_task",
    "list_tasks",
    "update_task",
    "pause_task",
    "resume_task",
    "cancel_task",
    "update_memory",
    "create_agent",
)
DEFAULT_TOOLS = tuple(t for t in ALL_TOOLS if t != "create_agent")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentConfig(_Strict):
    name: str = ""
    model: str | None = None
    provider: Literal["auto", "anthropic", "openai", "echo"] = "auto"
    base_url: str | None = None
    system_prompt: str = "You are a helpful assistant."
    description: str = Field(
        default="", description="one line shown to agents that may message this one"
    )
    tools: list[str] = Field(default_factory=lambda: list(DEFAULT_TOOLS))
    destinations: dict[str, Destination | str] = Field(
        default_factory=dict, description="name -> chat, or the name of another agent"
    )
    max_tokens: int = 1024
    max_tool_calls: int = 16
    history_token_budget: int = 24_000

    @model_validator(mode="after")
    def _known_tools(self) -> AgentConfig:
        unknown = set(self.tools) - set(ALL_TOOLS)
        if unknown:
            raise ValueError(f"unknown tools: {sorted(unknown)}")
        return self


class ChatConfig(_Strict):
    """A messaging group: one chat on one platform, or ``chat_id: "*"`` for any chat."""

    channel: str
    chat_id: str = "*"
    unknown_sender_policy: Literal["strict", "request_approval", "public"] = "public"


class Wiring(_Strict):
    agent: str
    chat: str
    engage_mode: Literal["always", "mention", "pattern", "mention-sticky"] = "always"
    pattern: str | None = None
    sender_scope: Literal["all", "known"] = "all"
    ignored_message_policy: Literal["drop", "accumulate"] = "drop"
    session_mode: Literal["shared", "per-thread", "agent-shared"] = "shared"
    priority: int = 0

    @model_validator(mode="after")
    def _pattern(self) -> Wiring:
        if self.engage_mode == "pattern":
            if not self.pattern:
                raise ValueError("engage_mode 'pattern' needs a pattern")
            try:
                re.compile(self.pattern)
            except re.error as exc:  # not a ValueError: it would escape validation
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {exc}") from exc
        return self


class UserConfig(_Strict):
    role: Literal["owner", "admin", "member"] = "member"
    agents: list[str] = Field(default_factory=list, description="admin/member of these agents")


class Config(_Strict):
    timezone: str = "UTC"
    agents: dict[str, AgentConfig]
    chats: dict[str, ChatConfig]
    wiring: list[Wiring]
    users: dict[str, UserConfig] = Field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-channel credentials and options"
    )
    agent_loop_cap: int = 5

    @model_validator(mode="after")
    def _references(self) -> Config:
        for w in self.wiring:
            if w.agent not in self.agents:
                raise ValueError(f"wiring names unknown agent {w.agent!r}")
            if w.chat not in self.chats:
                raise ValueError(f"wiring names unknown chat {w.chat!r}")
        return self

    def chats_for(self, channel: str, chat_id: str) -> list[str]:
        """Names of the configured chats an incoming (channel, chat_id) belongs to (a list
        the caller must not change)."""
        exact, wildcard = self.chat_index
        return exact.get((channel, chat_id)) or wildcard.get(channel, [])

    @cached_property
    def chat_index(self) -> tuple[dict[tuple[str, str], list[str]], dict[str, list[str]]]:
        """Chat names by (channel, chat id), and the wildcard ones by channel: looked up for
        every message routed and delivered, built once (a configuration is not changed in
        place: a new one is loaded)."""
        exact: dict[tuple[str, str], list[str]] = {}
        wildcard: dict[str, list[str]] = {}
        for name, chat in self.chats.items():
            if chat.chat_id == "*":
                wildcard.setdefault(chat.channel, []).append(name)
            else:
                exact.setdefault((chat.channel, chat.chat_id), []).append(name)
        return exact, wildcard

    @cached_property
    def wiring_by_priority(self) -> list[Wiring]:
        """The wiring, highest priority first (in file order among equals)."""
        return sorted(self.wiring, key=lambda w: -w.priority)


DEFAULT_CONFIG: dict[str, Any] = {
    "agents": {"assistant": {"name": "Assistant"}},
    "chats": {
        "web": {"channel": "web", "chat_id": "*"},
        "http": {"channel": "http", "chat_id": "*"},
    },
    "wiring": [
        {"agent": "assistant", "chat": "web"},
        {"agent": "assistant", "chat": "http"},
    ],
}


class ConfigError(Exception):
    """The configuration file is missing pieces or contradicts itself."""


def load_config(path: Path | None, *, required: bool = False) -> Config:
    """The config at ``path``, or the built-in default where there is none. A path that was
    named (``required``: set in ``CLAWBUS_CONFIG_PATH``) must exist: a config mounted at
    the wrong place would otherwise leave every platform's chats silently unwired."""
    if path is None or not path.exists():
        if required:
            raise ConfigError(
                f"{path} does not exist (CLAWBUS_CONFIG_PATH names it); leave the setting "
                "unset for the built-in default"
            )
        return Config.model_validate(DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return Config.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
