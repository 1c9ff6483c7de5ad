# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""A run starts from the state its lane's claim read, without a round trip of its own,
unless the claim cannot vouch for it: entries handed over before (a run record may
exist), or a session not named after the turn's agent (another agent's memory was read)."""

from __future__ import annotations

import uuid

import pytest

from common.envelope import now_ms
from common.messages import AgentInput, InboundMessage, Sender
from tests.fakes.anthropic import reply, text
from tests.support.agent_harness import texts
from worker import handler as handler_module
from worker.reads import read_run


@pytest.fixture
def own_reads(monkeypatch) -> list[str]:
    """The sessions of the runs that read their state themselves (the real reads)."""
    seen: list[str] = []

    async def counted(batch, keys, turn):
        seen.append(turn.session)
        return await read_run(batch, keys, turn)

    monkeypatch.setattr(handler_module, "read_run", counted)
    return seen


def context_of(request) -> str:
    return str(request["system"][-1]["text"])


async def test_a_fresh_turn_runs_on_what_its_claim_read(harness, fake_anthropic, own_reads):
    await harness.redis.set(harness.keys.memory("assistant"), "likes tea")
    fake_anthropic.push(reply(text("Hello, Alice.")), reply(text("Tea.")))
    await harness.say("my name is Alice")
    await harness.step()
    await harness.say("what do I like?")

    lane = await harness.claim()
    assert lane.state is not None and not lane.redelivered
    await harness.commit(lane, await harness.handler(lane, lane.entries))

    assert own_reads == []
    shown = fake_anthropic.requests[-1]
    assert "my name is Alice" in texts(shown) and "Hello, Alice." in texts(shown)
    assert "likes tea" in context_of(shown)
    assert [len(t.messages) for t in await harness.history()] == [2, 2]


async def test_a_redelivered_turn_reads_its_record_and_does_not_think_again(
    harness, fake_anthropic, own_reads
):
    fake_anthropic.push(reply(text("Noted.")))
    await harness.say("remember the milk")
    lane, first = await harness.run_handler()  # committed its record, died before the ack
    assert own_reads == []

    again = await harness.claim(within_s=5)  # after the dead holder's lease expired
    assert again.redelivered
    second = await harness.handler(again, again.entries)
    await harness.commit(again, second)

    assert own_reads == [lane.lane]
    assert len(fake_anthropic.requests) == 1
    assert [e.envelope for e in second] == [e.envelope for e in first]
    assert [o.text for o in await harness.sent()] == ["Noted."]


async def test_a_session_named_after_another_agent_reads_its_own_agents_memory(
    harness, fake_anthropic, own_reads
):
    await harness.redis.set(harness.keys.memory("assistant"), "likes tea")
    await harness.redis.set(harness.keys.memory("helper"), "the helper's notes")
    msg = InboundMessage(
        channel="web",
        chat_id="room",
        message_id=uuid.uuid4().hex,
        sender=Sender(id="alice", name="Alice"),
        text="what do I like?",
        sent_ms=now_ms(),
    )
    session = "helper|web:room"  # a lane whose name points at another agent
    await harness.publish(
        AgentInput(
            kind="message",
            agent="assistant",
            session=session,
            reply_to=msg.destination(),
            message=msg,
        ),
        msg.message_id,
    )
    fake_anthropic.push(reply(text("Tea.")))
    await harness.step()

    assert own_reads == [session]
    context = context_of(fake_anthropic.requests[-1])
    assert "likes tea" in context and "the helper's notes" not in context
