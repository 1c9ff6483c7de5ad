# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Slack outbound through the real slack_sdk AsyncWebClient against a loopback Web API."""

from __future__ import annotations

import orjson
import pytest

from common.errors import Misconfigured, PermanentError, RateLimited
from delivery.channels.ledger import Ledger
from delivery.channels.slack import SlackChannel
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.support.delivery_stack import outbound


@pytest.fixture
async def fake():
    async with FakeSlack() as server:
        yield server


@pytest.fixture
async def channel(fake, redis, keys):
    ch = SlackChannel(BOT_TOKEN, api_url=fake.api_url, ledger=Ledger(redis, keys), problems={})
    await ch.start()
    yield ch
    await ch.aclose()


async def test_threaded_mrkdwn_chunks_under_the_section_limit(fake, channel):
    text = (
        "**Title** with [a link](https://ex.com/x)\n\n"
        + ("A sentence that goes on. " * 40 + "\n\n") * 12
    )
    receipt = await channel.send(outbound("slack", "C1", text, thread_id="1700.1"))
    posts = fake.called("chat.postMessage")
    assert len(posts) == len(receipt.platform_ids) > 1
    assert all(len(p["text"]) <= 3000 for p in posts)
    assert all(p["thread_ts"] == "1700.1" for p in posts)
    assert posts[0]["text"].startswith("*Title* with <https://ex.com/x|a link>")


async def test_more_than_40000_characters_is_truncated(fake, channel):
    receipt = await channel.send(outbound("slack", "C1", "word " * 12_000, id="huge"))
    total = sum(len(p["text"]) for p in fake.called("chat.postMessage"))
    assert total <= 40_000 + 64 * len(receipt.platform_ids)
    assert fake.called("chat.postMessage")[-1]["text"].endswith("(truncated)")


async def test_edit_and_reaction_by_outbound_id_and_typing_does_nothing(fake, channel, redis, keys):
    receipt = await channel.send(outbound("slack", "C1", "first", id="s1"))
    await redis.set(keys.receipt("s1"), orjson.dumps(receipt.platform_ids))
    await channel.send(outbound("slack", "C1", "_changed_", id="s2", action="edit", target_id="s1"))
    [ts] = receipt.platform_ids
    assert fake.messages[("C1", ts)]["text"] == "_changed_"
    await channel.send(outbound("slack", "C1", id="s3", action="react", target_id="s1", emoji="👍"))
    await channel.send(outbound("slack", "C1", id="s4", action="react", target_id="s1", emoji="👍"))
    assert fake.reactions == [("C1", ts, "+1")]  # already_reacted counts as done
    before = len(fake.calls)
    await channel.send(outbound("slack", "C1", id="s5", action="typing"))
    assert len(fake.calls) == before


async def test_errors_are_named_for_what_happens_next(fake, channel):
    fake.script("chat.postMessage", FakeSlack.rate_limited(9))
    with pytest.raises(RateLimited) as limited:
        await channel.send(outbound("slack", "C1", "x", id="e1"))
    assert limited.value.retry_after == 9
    fake.script("chat.postMessage", FakeSlack.failing("channel_not_found"))
    with pytest.raises(PermanentError, match="channel_not_found") as gone:
        await channel.send(outbound("slack", "C1", "x", id="e2"))
    assert not isinstance(gone.value, Misconfigured)  # the agent is told; nothing to replay
    fake.script("chat.postMessage", FakeSlack.failing("token_revoked"))
    with pytest.raises(Misconfigured, match="check CLAWBUS_SLACK_BOT_TOKEN"):
        await channel.send(outbound("slack", "C1", "x", id="e2b"))
    with pytest.raises(PermanentError, match="message_not_found"):
        await channel.send(outbound("slack", "C1", "x", id="e3", action="edit", target_id="1.2"))
    with pytest.raises(PermanentError, match="reaction name"):
        await channel.send(
            outbound("slack", "C1", id="e4", action="react", target_id="1.2", emoji="🦜")
        )


async def test_a_refused_token_is_reported(fake, redis, keys):
    problems: dict[str, str] = {}
    ch = SlackChannel(
        "xoxb-wrong", api_url=fake.api_url, ledger=Ledger(redis, keys), problems=problems
    )
    await ch.start()
    assert "invalid_auth" in problems["slack"]
