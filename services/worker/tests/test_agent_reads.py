# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""A run starts from the state its lane's claim read, without a round trip of its own,
unless the claim cannot vouch for it: entries handed over before (a run record may
exist), or a session not named after the turn's agent (another agent's memory was read)."""

from __future__ import annotations

import copy
import uuid

import pytest

from common.envelope import now_ms
from common.messages import AgentInput, InboundMessage, Sender
from common.ports import ContentBlock, ModelMessage
from tests.fakes.anthropic import reply, text
from tests.support.agent_harness import CONFIG, Harness, texts
from worker import handler as handler_module
from worker.history import HistoryHeld, HistoryItem
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


SESSION = "assistant|web:room"


async def test_a_history_this_process_wrote_last_is_not_sent_again(
    harness, fake_anthropic, own_reads
):
    fake_anthropic.push(reply(text("Hello, Alice.")), reply(text("Alice.")))
    await harness.say("my name is Alice")
    await harness.step()
    await harness.say("what is my name?")

    lane = await harness.claim()
    assert lane.state is not None and lane.state.items is None and lane.state.length == 1
    await harness.commit(lane, await harness.handler(lane, lane.entries))

    assert own_reads == []
    shown = texts(fake_anthropic.requests[-1])
    assert "my name is Alice" in shown and "Hello, Alice." in shown
    assert [len(t.messages) for t in await harness.history()] == [2, 2]


async def test_a_history_another_worker_wrote_since_comes_whole(harness, fake_anthropic, own_reads):
    fake_anthropic.push(reply(text("Hello, Alice.")), reply(text("Lisbon.")))
    await harness.say("my name is Alice")
    await harness.step()
    # another worker process held the session meanwhile and added a turn
    await _add_turn(harness, "run-elsewhere", "I moved to Lisbon")
    await harness.redis.hset(harness.keys.history_writers, SESSION, "another-worker")
    await harness.say("where do I live?")

    lane = await harness.claim()
    assert lane.state is not None and lane.state.items is not None
    await harness.commit(lane, await harness.handler(lane, lane.entries))

    assert own_reads == []
    shown = texts(fake_anthropic.requests[-1])
    assert "my name is Alice" in shown and "I moved to Lisbon" in shown


async def test_a_history_that_changed_unseen_is_read_again(harness, fake_anthropic, own_reads):
    fake_anthropic.push(reply(text("Hello, Alice.")), reply(text("Lisbon.")))
    await harness.say("my name is Alice")
    await harness.step()
    # a change this process made but never heard back about (its reply was lost)
    await _add_turn(harness, "run-unseen", "I moved to Lisbon")
    await harness.say("where do I live?")

    lane = await harness.claim()
    assert lane.state is not None and lane.state.items is None and lane.state.length == 2
    await harness.commit(lane, await harness.handler(lane, lane.entries))

    assert own_reads == [SESSION]
    assert "I moved to Lisbon" in texts(fake_anthropic.requests[-1])


async def test_the_history_kept_after_compaction_is_the_one_stored(
    redis, keys, bus, fake_anthropic, own_reads
):
    config = copy.deepcopy(CONFIG)
    config["agents"]["assistant"]["history_token_budget"] = 400
    h = Harness(redis, keys, bus, fake_anthropic.url, config=config)
    fake_anthropic.fallback = _story_model
    story = "tea " * 200
    try:
        for i in range(3):  # the third turn folds the first into a summary
            await h.say(f"story {i}: {story}")
            await h.step()
        await h.say("and now?")
        await h.step()
    finally:
        await h.aclose()

    assert own_reads == []
    last = fake_anthropic.requests[-1]
    stored = await h.history()
    assert stored[0].kind == "summary" and stored[0].text in last["system"][1]["text"]
    shown = texts(last)
    for turn in stored[1:-1]:  # every kept turn before this one, as stored
        assert (turn.messages[0].content[0].text or "")[:40] in shown
    assert "story 0" not in shown


def _story_model(body):
    if "summar" in body["system"][0]["text"].lower():
        return reply(text("Alice told long stories about tea."))
    return reply(text("ok"))


async def test_a_worker_that_keeps_no_history_is_sent_it_whole(
    redis, keys, bus, fake_anthropic, own_reads
):
    h = _keeping(Harness(redis, keys, bus, fake_anthropic.url), 0)  # ..._CACHE_ITEMS=0
    fake_anthropic.push(reply(text("Hello, Alice.")), reply(text("Alice.")))
    try:
        await h.say("my name is Alice")
        await h.step()
        await h.say("what is my name?")
        lane = await h.claim()
        assert lane.state is not None and lane.state.items is not None
        await h.commit(lane, await h.handler(lane, lane.entries))
    finally:
        await h.aclose()
    assert own_reads == []
    assert "my name is Alice" in texts(fake_anthropic.requests[-1])


async def test_a_history_too_long_to_keep_is_sent_whole(
    redis, keys, bus, fake_anthropic, own_reads
):
    h = _keeping(Harness(redis, keys, bus, fake_anthropic.url), 2)  # up to two turns
    fake_anthropic.fallback = lambda body: reply(text("ok"))
    sent_whole = []
    try:
        for i in range(4):
            await h.say(f"note {i}")
            lane = await h.claim()
            assert lane.state is not None
            sent_whole.append(lane.state.items is not None)
            await h.commit(lane, await h.handler(lane, lane.entries))
    finally:
        await h.aclose()
    # turn 2 and 3 find lists of 1 and 2 turns this process kept; turn 3 leaves 3: not kept
    assert sent_whole == [True, False, False, True]
    assert own_reads == []
    assert "note 2" in texts(fake_anthropic.requests[-1])


async def _add_turn(harness: Harness, run: str, said: str) -> None:
    """A turn appended to the session's history by someone other than this harness."""
    message = ModelMessage(role="user", content=[ContentBlock(type="text", text=said)])
    item = HistoryItem.turn(run, now_ms(), [message])
    await harness.redis.rpush(harness.keys.history(SESSION), item.model_dump_json())


def _keeping(harness: Harness, items: int) -> Harness:
    """``harness`` with a worker that keeps at most ``items`` history items as written."""
    harness.runtime.held = HistoryHeld(items)
    harness.journal.held = harness.runtime.held
    return harness
