# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Delivery on real lanes: a platform 429 slows only its destination, and a permanent
failure is reported into the agent's session."""

from __future__ import annotations

import time

import pytest

from common.bus import ClaimedLane
from common.envelope import decode
from common.keys import Stage
from common.messages import AgentInput
from delivery.channels.ledger import Ledger
from delivery.channels.telegram import TelegramChannel
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.fakes.vendor import Scripted
from tests.support.delivery_stack import config_for, delivering, eventually, outbound, publish


@pytest.fixture
async def fake():
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def channels(fake, redis, keys):
    ch = TelegramChannel(
        TOKEN, api_url=fake.base, ledger=Ledger(redis, keys), redis=redis, keys=keys, problems={}
    )
    yield {"telegram": ch}
    await ch.aclose()


def sent_at(fake: FakeTelegram, chat: str) -> list[tuple[str, float]]:
    return [
        (c.params["text"], c.at)
        for c in fake.calls
        if c.method == "sendMessage" and str(c.params["chat_id"]) == chat
    ]


async def test_a_rate_limited_destination_backs_off_alone(fake, channels, bus, redis, keys):
    fake.script("sendMessage", FakeTelegram.rate_limited(2), target="111")
    slow = [outbound("telegram", "111", f"slow {i}", id=f"slow{i}") for i in range(3)]
    fast = [outbound("telegram", "222", f"fast {i}", id=f"fast{i}") for i in range(3)]
    await publish(bus, *slow, *fast)
    async with delivering(bus, redis, keys, channels, config_for("telegram")):
        await eventually(lambda: len(fake.sent("222")) == 3, timeout=5)
        refused_at = sent_at(fake, "111")[0][1]
        await eventually(lambda: len(fake.sent("111")) == 4, timeout=15)
    slow_calls = sent_at(fake, "111")
    fast_calls = sent_at(fake, "222")
    # the other destination flowed while this one waited out its Retry-After
    assert all(at < refused_at + 1.5 for _, at in fast_calls)
    assert slow_calls[1][1] - refused_at >= 1.9
    # and order held on both lanes
    assert [t for t, _ in slow_calls] == ["slow 0", "slow 0", "slow 1", "slow 2"]
    assert [t for t, _ in fast_calls] == ["fast 0", "fast 1", "fast 2"]
    for m in slow + fast:
        assert await redis.get(keys.receipt(m.id)) is not None


async def test_a_permanent_failure_reaches_the_agents_session(fake, channels, bus, redis, keys):
    fake.script(
        "sendMessage",
        Scripted(
            403,
            {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was kicked from the group chat",
            },
        ),
        target="333",
    )
    msg = outbound("telegram", "333", "hello", id="gone1", session="assistant|telegram:333")
    await publish(bus, msg)
    async with delivering(bus, redis, keys, channels, config_for("telegram")):
        lanes: list[ClaimedLane] = []
        deadline = time.monotonic() + 10
        while not lanes and time.monotonic() < deadline:
            lanes = await bus.claim(Stage.AGENT, 10, 10)
    assert lanes, "no system note reached the agent lane"
    [lane] = lanes
    assert lane.lane == "assistant|telegram:333"
    entry = decode(lane.entries[0].raw)
    note = AgentInput.model_validate(entry.payload)
    assert note.kind == "system" and note.silent
    assert "bot was kicked" in note.text and "gone1" in note.text
    assert await redis.get(keys.receipt("gone1")) is None
    assert note.reply_to.chat_id == "333"
