"""The route decision as a pure function: which chats a message is in, which agents answer."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.config import Config
from common.messages import InboundMessage, Sender
from router.decision import NO_STATE, RouteState, decide

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


def routed(
    config: Config, msg: InboundMessage, state: RouteState = NO_STATE
) -> list[tuple[str, str, bool]]:
    return [(t.agent, t.session, t.silent) for t in decide(config, state, msg).targets]


def said(text: str, **kw: object) -> InboundMessage:
    base: dict[str, object] = {
        "channel": "slack",
        "chat_id": "C1",
        "message_id": "m1",
        "sender": Sender(id="u1"),
        "text": text,
        "sent_ms": 1,
    }
    return InboundMessage.model_validate({**base, **kw})


def one(**wiring: object) -> Config:
    return Config.model_validate(
        {
            "agents": {"bot": {}},
            "chats": {"c": {"channel": "slack", "chat_id": "*"}},
            "wiring": [{"agent": "bot", "chat": "c", **wiring}],
        }
    )


def test_a_shared_session_is_the_chat_and_a_per_thread_one_is_its_thread() -> None:
    shared, threads, agent_wide = (
        one(session_mode=m) for m in ("shared", "per-thread", "agent-shared")
    )
    in_thread = said("hi", thread_id="T7")
    assert routed(shared, in_thread) == [("bot", "bot|slack:C1", False)]
    assert routed(shared, said("hi")) == [("bot", "bot|slack:C1", False)]
    assert routed(threads, in_thread) == [("bot", "bot|slack:C1|T7", False)]
    assert routed(threads, said("hi")) == [("bot", "bot|slack:C1|main", False)]
    # another chat: another session, but one session for the agent everywhere
    assert routed(threads, said("hi", chat_id="C2")) == [("bot", "bot|slack:C2|main", False)]
    assert routed(agent_wide, said("hi", chat_id="C2")) == [("bot", "bot", False)]


def test_mention_mode_answers_only_when_addressed() -> None:
    config = one(engage_mode="mention")
    assert routed(config, said("hello all")) == []
    assert decide(config, RouteState(), said("hello all")).reason == "bot: not addressed"
    for addressed in ({"is_mention": True}, {"is_dm": True}, {"reply_to_bot": True}):
        assert routed(config, said("hi", **addressed)) == [("bot", "bot|slack:C1", False)]


def test_pattern_mode_answers_what_matches_and_the_rest_can_be_kept_as_context() -> None:
    dropping = one(engage_mode="pattern", pattern=r"(?i)\border #\d+")
    keeping = one(
        engage_mode="pattern", pattern=r"(?i)\border #\d+", ignored_message_policy="accumulate"
    )
    assert routed(dropping, said("where is ORDER #42?")) == [("bot", "bot|slack:C1", False)]
    assert routed(dropping, said("where is my order?")) == []
    # not engaged, but in the session's history as a silent input
    assert routed(keeping, said("where is my order?")) == [("bot", "bot|slack:C1", True)]


def test_a_pattern_mode_without_a_valid_pattern_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="engage_mode 'pattern' needs a pattern"):
        one(engage_mode="pattern")
    with pytest.raises(ValidationError, match="pattern '\\(' is not a valid regex"):
        one(engage_mode="pattern", pattern="(")


def test_mention_sticky_stays_engaged_in_the_thread_it_was_called_into() -> None:
    config = one(engage_mode="mention-sticky", session_mode="per-thread")
    called = decide(config, RouteState(), said("@bot help", thread_id="T1", is_mention=True))
    assert called.stick == ["bot"]
    follow_up = said("and also this", thread_id="T1")
    assert routed(config, follow_up) == []
    assert routed(config, follow_up, RouteState(sticky=frozenset({"bot"}))) == [
        ("bot", "bot|slack:C1|T1", False)
    ]


def test_senders_unknown_to_a_strict_chat_and_bots_are_not_routed() -> None:
    config = Config.model_validate(
        {
            "agents": {"bot": {}},
            "chats": {"c": {"channel": "slack", "chat_id": "*", "unknown_sender_policy": "strict"}},
            "wiring": [{"agent": "bot", "chat": "c"}],
            "users": {"slack:boss": {"role": "owner"}},
        }
    )
    assert routed(config, said("hi", sender=Sender(id="boss"))) == [("bot", "bot|slack:C1", False)]
    stranger = decide(config, RouteState(), said("hi", sender=Sender(id="eve")))
    assert stranger.targets == [] and "unknown sender slack:eve (strict)" in stranger.reason
    # one let in at runtime (an approved request) is known from then on
    let_in = RouteState(members=frozenset({"bot|slack:eve"}))
    assert routed(config, said("hi", sender=Sender(id="eve")), let_in) != []
    robot = decide(config, RouteState(), said("hi", sender=Sender(id="boss", is_bot=True)))
    assert robot.targets == [] and robot.reason == "sender is a bot"
