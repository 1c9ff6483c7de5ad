# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Session history: written per turn, silent context without a model call, /clear, compaction."""

from __future__ import annotations

import copy

from common.messages import AgentInput, Destination
from tests.fakes.anthropic import reply, text
from tests.support.agent_harness import CONFIG, Harness, texts
from worker.commands import ADMINS_ONLY, CLEARED
from worker.compaction import SUMMARY_SYSTEM


async def test_turns_are_kept_and_shown_to_the_model(harness, fake_anthropic):
    fake_anthropic.push(reply(text("Nice to meet you, Alice.")), reply(text("You are Alice.")))
    await harness.say("my name is Alice")
    await harness.step()
    await harness.say("who am I?")
    await harness.step()
    shown = texts(fake_anthropic.requests[1])
    assert "my name is Alice" in shown and "Nice to meet you, Alice." in shown
    assert [len(t.messages) for t in await harness.history()] == [2, 2]


async def test_a_session_keeps_where_it_answers_without_its_unset_fields(harness, fake_anthropic):
    fake_anthropic.push(reply(text("Hello.")))
    await harness.say("hi")
    await harness.step()
    raw = await harness.redis.get(harness.keys.session_reply("assistant|web:room"))
    assert raw == b'{"channel":"web","chat_id":"room"}'
    assert Destination.model_validate_json(raw) == Destination(channel="web", chat_id="room")


async def test_silent_inputs_go_into_history_without_a_model_call(harness, fake_anthropic):
    await harness.say("(chatter between humans)", silent=True)
    await harness.publish(
        AgentInput(
            kind="system",
            agent="assistant",
            session="assistant|web:room",
            reply_to=Destination(channel="web", chat_id="room"),
            text="Delivery of message m1 to web:room failed: chat gone",
            silent=True,
        )
    )
    await harness.step()
    assert fake_anthropic.requests == []
    assert await harness.sent() == [] and await harness.sent(action="typing") == []
    [turn] = await harness.history()
    [user] = turn.messages
    assert 'silent="true"' in (user.content[0].text or "")
    assert "Delivery of message m1" in (user.content[0].text or "")

    fake_anthropic.push(reply(text("Sorry, my last message did not arrive.")))
    await harness.say("did you answer?")
    await harness.step()
    [request] = fake_anthropic.requests
    assert len(request["messages"]) == 1  # the silent turn joined the new one
    assert "chatter between humans" in texts(request)


async def test_clear_starts_over_and_is_for_admins_in_groups(harness, fake_anthropic):
    fake_anthropic.push(reply(text("noted")))
    await harness.say("remember: blue")
    await harness.step()
    await harness.say("/clear", sender="bob")
    await harness.step()
    assert len(await harness.history()) == 1
    await harness.say("/clear", sender="alice")
    await harness.step()
    assert await harness.history() == []
    assert [o.text for o in await harness.sent()] == ["noted", ADMINS_ONLY, CLEARED]
    assert len(fake_anthropic.requests) == 1  # commands never reach the model

    await harness.say("hi", sender="bob", chat="bob-dm", dm=True)
    fake_anthropic.push(reply(text("hello bob")))
    await harness.step()
    await harness.say("/clear", sender="bob", chat="bob-dm", dm=True)
    await harness.step()
    assert await harness.history("assistant|web:bob-dm") == []


async def test_clear_in_a_batch_drops_what_came_before_it(harness, fake_anthropic):
    fake_anthropic.push(reply(text("fresh start")))
    await harness.say("old topic")
    await harness.say("/clear")
    await harness.say("new topic")
    await harness.step()
    shown = texts(fake_anthropic.requests[0])
    assert "new topic" in shown and "old topic" not in shown
    [turn] = await harness.history()
    assert "new topic" in (turn.messages[0].content[0].text or "")


def _model(body):
    if body["system"][0]["text"] == SUMMARY_SYSTEM:
        assert "cache_control" not in body["system"][0] and "tools" not in body
        return reply(text("Alice told two long stories about tea."))
    return reply(text("ok"))


async def test_history_is_compacted_past_the_budget(redis, keys, bus, fake_anthropic):
    config = copy.deepcopy(CONFIG)
    config["agents"]["assistant"]["history_token_budget"] = 400
    h = Harness(redis, keys, bus, fake_anthropic.url, config=config)
    fake_anthropic.fallback = _model
    story = "tea " * 200
    for i in range(3):
        await h.say(f"story {i}: {story}")
        await h.step()
    await h.aclose()

    summaries = [r for r in fake_anthropic.requests if r["system"][0]["text"] == SUMMARY_SYSTEM]
    assert len(summaries) == 1 and len(fake_anthropic.requests) == 4
    assert "story 0" in texts(summaries[0]) and "story 1" not in texts(summaries[0])
    last = fake_anthropic.requests[-1]
    assert "Alice told two long stories about tea." in last["system"][1]["text"]
    assert "story 0" not in texts(last) and "story 1" in texts(last)
    summary, *turns = await h.history()
    assert summary.kind == "summary" and summary.text.startswith("Alice told")
    assert ["story 1" in (t.messages[0].content[0].text or "") for t in turns] == [True, False]
