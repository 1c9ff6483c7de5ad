# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Model API failures: busy answers wait, refusals tell the user, runs past the timeout end."""

from __future__ import annotations

import importlib

import pytest

from common.errors import RateLimited
from common.keys import Stage
from tests.fakes.anthropic import error, reply, text
from tests.support.agent_harness import eventually
from worker.handler import TIMEOUT_TEXT, UNAVAILABLE_TEXT
from worker.llm.errors import AUTH_TEXT, REJECTED_TEXT


async def _replied(harness, n: int = 1) -> bool:
    return len(await harness.sent()) >= n


async def test_429_waits_for_retry_after_then_answers(harness, fake_anthropic, bus):
    fake_anthropic.push(error(429, retry_after=1), reply(text("there you go")))
    await harness.say("hello")
    async with harness.consuming():
        await eventually(lambda: _replied(harness))
    first, second = fake_anthropic.times
    assert second - first >= 0.95
    assert [o.text for o in await harness.sent()] == ["there you go"]
    assert await bus.dead_letters(Stage.AGENT) == []


async def test_busy_answer_raises_rate_limited_with_retry_after(harness, fake_anthropic):
    fake_anthropic.push(error(429, retry_after=7))
    await harness.say("hello")
    with pytest.raises(RateLimited) as caught:
        await harness.run_handler()
    assert caught.value.retry_after == 7


async def test_529_storm_backs_off_growing_and_loses_nothing(harness, fake_anthropic, bus):
    storm = 6  # more than max_attempts: busy answers do not spend attempts
    fake_anthropic.push(*(error(529) for _ in range(storm)), reply(text("finally")))
    await harness.say("are you there?")
    async with harness.consuming():
        await eventually(lambda: _replied(harness), within_s=20)
    gaps = [b - a for a, b in zip(fake_anthropic.times, fake_anthropic.times[1:], strict=False)]
    expected = [min(0.4, 0.05 * 2**i) for i in range(storm)]  # the harness's busy backoff
    assert all(gap >= want * 0.9 for gap, want in zip(gaps, expected, strict=True)), gaps
    assert [o.text for o in await harness.sent()] == ["finally"]
    assert await bus.dead_letters(Stage.AGENT) == []


@pytest.mark.parametrize(("status", "told"), [(400, REJECTED_TEXT), (401, AUTH_TEXT)])
async def test_refused_request_tells_the_user_once_and_acks(
    harness, fake_anthropic, bus, status, told
):
    fake_anthropic.push(error(status, "no"))
    await harness.say("hello")
    async with harness.consuming():
        await eventually(lambda: _replied(harness))
        stats = await bus.stats(Stage.AGENT)
    assert [o.text for o in await harness.sent()] == [told]
    assert len(fake_anthropic.requests) == 1
    assert stats.backlog == 0
    assert await bus.dead_letters(Stage.AGENT) == []
    assert await harness.history() == []  # the input may be what the API refuses


async def test_failing_api_gives_up_plainly_on_the_last_attempt(harness, fake_anthropic, bus):
    fake_anthropic.fallback = error(500, "boom")
    await harness.say("hello")
    async with harness.consuming():
        await eventually(lambda: _replied(harness))
    assert [o.text for o in await harness.sent()] == [UNAVAILABLE_TEXT]
    assert len(fake_anthropic.requests) == harness.max_attempts
    assert await bus.dead_letters(Stage.AGENT) == []


async def test_run_past_the_timeout_is_cut_and_frees_the_lane(harness, fake_anthropic, bus):
    # the SDK is imported on its first use, which takes longer than this test's timeout:
    # done here, so that only the model's answer runs late (else the test passes only
    # after another has imported it)
    importlib.import_module("worker.llm.anthropic")
    harness.agent_handler.timeout_s = 0.5
    fake_anthropic.push(reply(text("too late"), delay_s=5), reply(text("quick one")))
    await harness.say("think hard")
    async with harness.consuming():
        await eventually(lambda: _replied(harness))
        await harness.say("and now?")
        await eventually(lambda: _replied(harness, 2))
    assert [o.text for o in await harness.sent()] == [TIMEOUT_TEXT, "quick one"]
    first, _ = await harness.history()
    assert "think hard" in first.messages[0].content[0].text
    assert first.messages[1].content[0].text == TIMEOUT_TEXT
    assert "think hard" in str(fake_anthropic.requests[1]["messages"])
    assert await bus.dead_letters(Stage.AGENT) == []
