"""The route stage's handler on one entry: what it publishes for each engaged agent."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from common.bus import ClaimedLane, Entry
from common.config import Config
from common.envelope import Envelope, decode
from common.errors import PermanentError
from common.keys import Keys, Stage
from common.messages import AgentInput, InboundMessage, Sender
from router.handler import RouteHandler

CONFIG = Config.model_validate(
    {
        "agents": {"main": {}, "helper": {}},
        "chats": {"web": {"channel": "web"}},
        "wiring": [
            {"agent": "main", "chat": "web"},
            {
                "agent": "helper",
                "chat": "web",
                "engage_mode": "mention",
                "session_mode": "per-thread",
            },
        ],
    }
)


def entry(payload: dict[str, object]) -> tuple[ClaimedLane, Entry]:
    env = Envelope("in-1", "inbound", "trace-1", 1_000, payload)
    # as a lane hands it over: encoded and decoded again
    got = Entry(id="1-0", raw=env.encode(), attempts=0, envelope=decode(env.encode()))
    keys = Keys("t", 1)
    lane = ClaimedLane(Stage.ROUTE, keys.partition(Stage.ROUTE, 0), "web:c1", "1", [got], 0)
    return lane, got


async def test_each_engaged_agent_gets_the_message_as_an_agent_input(
    redis: Redis, keys: Keys
) -> None:
    msg = InboundMessage(
        channel="web",
        chat_id="c1",
        message_id="m1",
        sender=Sender(id="u1", name="Ann"),
        text="@helper hi",
        sent_ms=5,
        thread_id="t9",
        is_mention=True,
        bot="b",
    )
    # the payload as a channel sends it: defaults left out
    lane, got = entry(msg.model_dump(mode="json", exclude_defaults=True))
    emits = await RouteHandler(redis, keys, CONFIG)(lane, got)

    assert [(e.stage, e.lane) for e in emits] == [
        (Stage.AGENT, "main|web:c1"),
        (Stage.AGENT, "helper|web:c1|t9"),
    ]
    for emit, (agent, session) in zip(
        emits, [("main", "main|web:c1"), ("helper", "helper|web:c1|t9")], strict=True
    ):
        env = decode(emit.envelope.encode())
        assert (env.kind, env.trace_id, env.accepted_ms) == ("agent_input", "trace-1", 1_000)
        assert AgentInput.model_validate(env.payload) == AgentInput(
            kind="message",
            agent=agent,
            session=session,
            reply_to=msg.destination(),
            message=msg,
        )
    assert len({e.envelope.id for e in emits}) == 2


async def test_a_payload_that_is_not_an_inbound_message_is_permanent(
    redis: Redis, keys: Keys
) -> None:
    lane, got = entry({"channel": "web", "text": "no chat, no sender"})
    with pytest.raises(PermanentError, match="not an inbound message"):
        await RouteHandler(redis, keys, CONFIG)(lane, got)
