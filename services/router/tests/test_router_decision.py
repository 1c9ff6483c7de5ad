"""The route decision as a pure function: which chats a message is in, which agents answer."""

from __future__ import annotations

from common.config import Config
from common.messages import InboundMessage, Sender
from router.decision import RouteState, decide

CONFIG = Config.model_validate(
    {
        "agents": {"support": {}, "triage": {}, "sales": {}, "general": {}},
        "chats": {
            "any-slack": {"channel": "slack", "chat_id": "*"},
            "help": {"channel": "slack", "chat_id": "C1"},
            "help-too": {"channel": "slack", "chat_id": "C1"},
            "deals": {"channel": "slack", "chat_id": "C2"},
        },
        "wiring": [
            {"agent": "general", "chat": "any-slack"},
            {"agent": "support", "chat": "help"},
            {"agent": "triage", "chat": "help-too", "priority": 5},
            {"agent": "sales", "chat": "deals"},
        ],
    }
)


def message(channel: str, chat_id: str) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        chat_id=chat_id,
        message_id="m1",
        sender=Sender(id="u1"),
        text="hello",
        sent_ms=1,
    )


def agents(channel: str, chat_id: str) -> list[str]:
    return [t.agent for t in decide(CONFIG, RouteState(), message(channel, chat_id)).targets]


def test_a_chat_named_exactly_takes_its_messages_from_the_wildcard() -> None:
    assert CONFIG.chats_for("slack", "C1") == ["help", "help-too"]
    assert agents("slack", "C1") == ["triage", "support"]  # higher priority first
    assert agents("slack", "C2") == ["sales"]
    assert agents("slack", "C9") == ["general"]  # only the wildcard knows it


def test_a_channel_no_chat_names_is_not_routed() -> None:
    assert CONFIG.chats_for("discord", "C1") == []
    decision = decide(CONFIG, RouteState(), message("discord", "C1"))
    assert decision.targets == [] and decision.reason == "unknown chat discord:C1"
