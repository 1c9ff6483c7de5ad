"""Which agents a message engages, and in which session: a pure function.

``decide(config, state, message)`` reads nothing and writes nothing; the handler fetches
the state it needs first and applies the decision's side effects afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from common.config import Config, Wiring
from common.messages import InboundMessage


@dataclass(frozen=True, slots=True)
class RouteState:
    sticky: frozenset[str] = frozenset()  # agents engaged in this thread (mention-sticky)
    members: frozenset[str] = frozenset()  # "agent|handle" added at runtime (approvals)


NO_STATE = RouteState()


# Made per message routed: plain dataclasses (see common.envelope.Envelope), never changed.
@dataclass(slots=True)
class Target:
    agent: str
    session: str
    silent: bool
    priority: int


@dataclass(slots=True)
class Decision:
    targets: list[Target] = field(default_factory=list)
    reason: str = ""
    stick: list[str] = field(default_factory=list)  # agents to mark engaged in this thread


@lru_cache(maxsize=512)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


def session_key(wiring: Wiring, msg: InboundMessage) -> str:
    if wiring.session_mode == "agent-shared":
        return wiring.agent
    base = f"{wiring.agent}|{msg.conversation}"
    if wiring.session_mode == "per-thread":
        return f"{base}|{msg.thread_id or 'main'}"
    return base


def is_known(config: Config, state: RouteState, agent: str, handle: str) -> bool:
    user = config.users.get(handle)
    if user is not None and (user.role == "owner" or not user.agents or agent in user.agents):
        return True
    return f"{agent}|{handle}" in state.members


def _engaged(wiring: Wiring, msg: InboundMessage, state: RouteState) -> bool:
    addressed = msg.is_mention or msg.is_dm or msg.reply_to_bot
    match wiring.engage_mode:
        case "always":
            return True
        case "mention":
            return addressed
        case "pattern":
            return bool(_pattern(wiring.pattern or "").search(msg.text))
        case _:
            return addressed or wiring.agent in state.sticky


def decide(config: Config, state: RouteState, msg: InboundMessage) -> Decision:
    chats = config.chats_for(msg.channel, msg.chat_id)
    if not chats:
        return Decision(reason=f"unknown chat {msg.conversation}")
    if msg.sender.is_bot:
        return Decision(reason="sender is a bot")
    handle = msg.sender.handle(msg.channel)
    targets: dict[str, Target] = {}
    stick: list[str] = []
    reasons: list[str] = []
    for wiring in config.wiring_by_priority:
        if wiring.chat not in chats or wiring.agent in targets:
            continue
        chat = config.chats[wiring.chat]
        known = is_known(config, state, wiring.agent, handle)
        if not known and chat.unknown_sender_policy != "public":
            reasons.append(
                f"{wiring.agent}: unknown sender {handle} ({chat.unknown_sender_policy})"
            )
            continue
        if wiring.sender_scope == "known" and not known:
            reasons.append(f"{wiring.agent}: sender {handle} is not a member")
            continue
        engaged = _engaged(wiring, msg, state)
        if not engaged and wiring.ignored_message_policy == "drop":
            reasons.append(f"{wiring.agent}: not addressed")
            continue
        if engaged and wiring.engage_mode == "mention-sticky":
            stick.append(wiring.agent)
        targets[wiring.agent] = Target(
            wiring.agent, session_key(wiring, msg), silent=not engaged, priority=wiring.priority
        )
    return Decision(list(targets.values()), "; ".join(reasons), stick)
