# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""A worker killed at any point of a run: no double effect, no double history (G4).

Kills are simulated on the real lanes: the handler runs but its lane is never committed
(or is committed halfway), the lease expires, and the next claim hands the same entries
to the handler again.
"""

from __future__ import annotations

import asyncio

import pytest

from common.errors import Fenced
from tests.fakes.anthropic import reply, text, tool_use
from tests.support.agent_harness import Harness, eventually
from worker.turn import parse_turn

EFFECTS = (
    tool_use("update_memory", {"mode": "append", "text": "likes tea"}, "tu_1"),
    tool_use("schedule_task", {"prompt": "tea time", "cron": "0 17 * * *"}, "tu_2"),
    tool_use("send_message", {"to": "ops", "text": "fyi: tea"}, "tu_3"),
)


async def _assert_applied_once(harness: Harness) -> None:
    assert await harness.memory() == "likes tea"
    [turn] = await harness.history()
    assert "I like tea" in (turn.messages[0].content[0].text or "")
    assert [c.action for c in await harness.commands()] == ["create"]
    assert [o.text for o in await harness.sent("ops-room")] == ["fyi: tea"]
    assert [o.text for o in await harness.sent()] == ["Noted."]


@pytest.mark.parametrize("published", [False, True], ids=["before-publish", "before-ack"])
async def test_killed_after_the_run_replays_its_record(harness, fake_anthropic, published):
    fake_anthropic.push(reply(*EFFECTS), reply(text("Noted.")))
    await harness.say("I like tea; remind me daily at 5pm")
    lane, first = await harness.run_handler()
    if published:  # the consumer published the emits, then died before the ack
        await harness.publish_emits(first)
    again = await harness.claim(within_s=5)  # after the dead holder's lease expired
    assert [e.id for e in again.entries] == [e.id for e in lane.entries]
    second = await harness.handler(again, again.entries)
    await harness.commit(again, second)

    assert len(fake_anthropic.requests) == 2  # the retry did not think again
    assert [e.envelope.id for e in second] == [e.envelope.id for e in first]
    assert [e.envelope for e in second] == [e.envelope for e in first]
    await _assert_applied_once(harness)


async def test_killed_mid_run_between_tool_effects_and_commit(harness, fake_anthropic):
    fake_anthropic.push(reply(*EFFECTS), reply(text("too late"), delay_s=30))
    await harness.say("I like tea; remind me daily at 5pm")
    lane = await harness.claim()
    run = asyncio.create_task(harness.handler(lane, lane.entries))
    while len(fake_anthropic.requests) < 2:  # the tools ran; the model is thinking again
        await asyncio.sleep(0.01)
    run.cancel()  # SIGKILL: nothing after this point happens
    with pytest.raises(asyncio.CancelledError):
        await run
    assert await harness.memory() == ""  # effects wait for the commit

    fake_anthropic.push(reply(*EFFECTS), reply(text("Noted.")))
    again = await harness.claim(within_s=5)
    assert [e.id for e in again.entries] == [e.id for e in lane.entries]
    await harness.commit(again, await harness.handler(again, again.entries))
    await _assert_applied_once(harness)


def _model(body):
    """Tools first; once their results are in, the answer."""
    if any(b["type"] == "tool_result" for b in body["messages"][-1]["content"]):
        return reply(text("Noted."))
    return reply(*EFFECTS)


async def test_stale_and_new_holder_racing_commit_the_run_once(harness, fake_anthropic):
    fake_anthropic.fallback = _model
    await harness.say("I like tea; remind me daily at 5pm")
    lane = await harness.claim()
    # both holders run the same entries at once (one of them paused past its lease)
    first, second = await asyncio.gather(
        harness.handler(lane, lane.entries), harness.handler(lane, lane.entries)
    )
    assert len(fake_anthropic.requests) == 4  # both thought; one commit won
    assert [e.envelope for e in first] == [e.envelope for e in second]
    await harness.commit(lane, first)
    await _assert_applied_once(harness)


@pytest.mark.parametrize("staged", [True, False], ids=["staged", "transaction"])
async def test_a_holder_past_its_lease_applies_nothing_once_the_turn_is_acked(
    harness, fake_anthropic, staged
):
    """The next holder's commit deletes the run's record with its ack; the stale holder,
    thinking on, must still apply nothing (its run's changes read first or not)."""
    await harness.say("I like tea; remind me daily at 5pm")
    stale = await harness.claim()  # then it stalls past its lease
    record = harness.keys.run(stale.lane, parse_turn(stale.lane, stale.entries).run_id)
    fake_anthropic.push(reply(text("Noted.")))  # the next holder's run
    async with harness.consuming():
        await eventually(lambda: _sent_texts(harness, ["Noted."]))
        await eventually(lambda: _gone(harness, record))  # acked: the record went with it

    if staged:  # the stale run thinks differently: a plain answer, or one with effects
        fake_anthropic.push(reply(text("Noted again.")))
    else:
        fake_anthropic.push(reply(*EFFECTS), reply(text("Noted again.")))
    with pytest.raises(Fenced):
        await harness.handler(stale, stale.entries)
    assert len(await harness.history()) == 1
    assert await harness.memory() == ""
    assert await harness.commands() == []
    assert [o.text for o in await harness.sent()] == ["Noted."]
    assert await harness.redis.exists(record) == 0


async def _sent_texts(harness: Harness, expected: list[str], chat: str = "room") -> bool:
    return [o.text for o in await harness.sent(chat)] == expected


async def _no_records(harness: Harness) -> bool:
    return [k async for k in harness.redis.scan_iter(match=harness.keys.run("*", "*"))] == []


async def _gone(harness: Harness, key: str) -> bool:
    return await harness.redis.exists(key) == 0


async def test_a_turn_committed_by_its_transaction_leaves_no_record_once_acked(
    harness, fake_anthropic
):
    """A memory edit reads before it writes: the run commits in a transaction of its own,
    and its record still goes with the ack."""
    fake_anthropic.fallback = _model
    await harness.say("I like tea; remind me daily at 5pm")
    async with harness.consuming():
        await eventually(lambda: _sent_texts(harness, ["fyi: tea"], chat="ops-room"))
        await eventually(lambda: _sent_texts(harness, ["Noted."]))
        await eventually(lambda: _no_records(harness))
    assert await harness.memory() == "likes tea"
    assert [c.action for c in await harness.commands()] == ["create"]
