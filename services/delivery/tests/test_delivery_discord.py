# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Discord outbound through discord.py's HTTP client against a loopback REST API."""

from __future__ import annotations

import orjson
import pytest

from common.errors import PermanentError, RateLimited, RetryableError
from delivery.channels.discord import DiscordChannel
from delivery.channels.ledger import Ledger
from tests.fakes.discord import TOKEN, FakeDiscord
from tests.fakes.vendor import Scripted
from tests.support.delivery_stack import outbound


@pytest.fixture
async def fake():
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def channel(fake, redis, keys):
    ch = DiscordChannel(TOKEN, api_url=fake.api_url, ledger=Ledger(redis, keys), problems={})
    await ch.start()
    yield ch
    await ch.aclose()


async def test_chunks_reply_and_thread(fake, channel):
    text = "Here:\n\n```js\n" + "\n".join(f"let v{i} = {i};" for i in range(300)) + "\n```"
    receipt = await channel.send(outbound("discord", "100", text, thread_id="200", reply_to="300"))
    sent = fake.sent()
    assert len(sent) == len(receipt.platform_ids) > 1
    assert {s["channel"] for s in sent} == {"200"}  # a thread is its own channel
    assert all(len(s["content"]) <= 2000 for s in sent)
    assert all(s["content"].count("```") % 2 == 0 for s in sent)
    assert sent[0]["message_reference"]["message_id"] == 300
    assert "message_reference" not in sent[1]
    assert sent[0]["allowed_mentions"]["parse"] == ["users"]


async def test_a_resent_chunk_is_dropped_by_discord_through_its_nonce(fake, channel, redis, keys):
    msg = outbound("discord", "100", "hello", id="n1")
    first = await channel.send(msg)
    await redis.delete(keys.kv("delivery:progress:n1"))  # as if the crash lost our progress
    again = await channel.send(msg)
    assert first.platform_ids == again.platform_ids
    assert len(fake.messages) == 1


async def test_edit_react_typing(fake, channel, redis, keys):
    receipt = await channel.send(outbound("discord", "100", "one", id="d1"))
    await redis.set(keys.receipt("d1"), orjson.dumps(receipt.platform_ids))
    await channel.send(outbound("discord", "100", "two", id="d2", action="edit", target_id="d1"))
    assert fake.messages[receipt.platform_ids[0]]["content"] == "two"
    await channel.send(
        outbound("discord", "100", id="d3", action="react", target_id="d1", emoji="👍")
    )
    assert fake.reactions == [("100", receipt.platform_ids[0], "👍")]
    await channel.send(outbound("discord", "100", id="d4", action="typing"))
    assert fake.typing == ["100"]


async def test_errors_are_named_for_what_happens_next(fake, channel):
    fake.script("send", FakeDiscord.rate_limited(45), target="100")
    with pytest.raises(RateLimited) as limited:
        await channel.send(outbound("discord", "100", "x", id="e1"))
    assert limited.value.retry_after == 45
    fake.script("send", FakeDiscord.missing(), target="100")
    with pytest.raises(PermanentError, match="404"):
        await channel.send(outbound("discord", "100", "x", id="e2"))
    fake.script("send", Scripted(503, {"message": "unavailable"}), target="100")
    with pytest.raises(RetryableError):
        await channel.send(outbound("discord", "100", "x", id="e3"))


async def test_a_short_rate_limit_is_waited_out_inside_the_call(fake, channel):
    fake.script("send", FakeDiscord.rate_limited(0.3), target="100")
    receipt = await channel.send(outbound("discord", "100", "x", id="w1"))
    assert len(receipt.platform_ids) == 1
    assert len(fake.sent("100")) == 2


async def test_a_refused_token_is_reported(fake, redis, keys):
    problems: dict[str, str] = {}
    ch = DiscordChannel(
        "bad.token.x", api_url=fake.api_url, ledger=Ledger(redis, keys), problems=problems
    )
    await ch.start()
    await ch.aclose()
    assert "discord" in problems
