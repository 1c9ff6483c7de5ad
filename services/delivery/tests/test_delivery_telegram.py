# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Telegram outbound through real httpx against a loopback Bot API."""

from __future__ import annotations

import orjson
import pytest

from common.errors import PermanentError, RateLimited, RetryableError
from common.messages import Button
from delivery.channels.ledger import Ledger
from delivery.channels.telegram import TelegramChannel
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.fakes.vendor import Scripted
from tests.support.delivery_stack import outbound


@pytest.fixture
async def fake():
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def channel(fake, redis, keys):
    problems: dict[str, str] = {}
    ch = TelegramChannel(
        TOKEN,
        api_url=fake.base,
        ledger=Ledger(redis, keys),
        redis=redis,
        keys=keys,
        problems=problems,
    )
    await ch.start()
    yield ch
    await ch.aclose()


LONG = (
    "Intro with <tags> & **bold**.\n\n```python\n"
    + "\n".join(f"value_{i} = {i} < {i + 1}" for i in range(600))
    + "\n```\n\nThe end."
)


async def test_long_message_is_sent_in_order_as_valid_html_chunks(fake, channel):
    msg = outbound("telegram", "42", LONG, thread_id="7", reply_to="99")
    receipt = await channel.send(msg)
    sent = fake.sent("42")
    assert len(sent) == len(receipt.platform_ids) > 2
    assert [p["parse_mode"] for p in sent] == ["HTML"] * len(sent)
    assert all(p["message_thread_id"] == 7 for p in sent)
    assert sent[0]["reply_parameters"]["message_id"] == 99
    assert "reply_parameters" not in sent[1]
    assert "&lt;tags&gt; &amp; <b>bold</b>" in sent[0]["text"]
    joined = "".join(p["text"] for p in sent)
    assert joined.index("value_10 ") < joined.index("value_500 ")


async def test_edit_react_and_typing_find_the_platform_ids_by_outbound_id(
    fake, channel, redis, keys
):
    first = outbound("telegram", "42", "one", id="o1")
    receipt = await channel.send(first)
    await redis.set(keys.receipt("o1"), orjson.dumps(receipt.platform_ids))
    [pid] = receipt.platform_ids
    await channel.send(outbound("telegram", "42", "two", id="o2", action="edit", target_id="o1"))
    assert fake.called("editMessageText")[-1]["message_id"] == int(pid)
    assert fake.messages[("42", int(pid))]["text"] == "two"
    await channel.send(
        outbound("telegram", "42", id="o3", action="react", target_id="o1", emoji="👍")
    )
    assert fake.called("setMessageReaction")[-1]["reaction"] == [{"type": "emoji", "emoji": "👍"}]
    await channel.send(outbound("telegram", "42", id="o4", action="typing", thread_id="5"))
    assert fake.called("sendChatAction")[-1] == {
        "chat_id": "42",
        "action": "typing",
        "message_thread_id": 5,
    }


async def test_edit_that_grows_adds_chunks_and_updates_the_receipt(fake, channel, redis, keys):
    receipt = await channel.send(outbound("telegram", "42", "short", id="g1"))
    await redis.set(keys.receipt("g1"), orjson.dumps(receipt.platform_ids))
    grown = await channel.send(
        outbound("telegram", "42", LONG, id="g2", action="edit", target_id="g1")
    )
    assert grown.platform_ids[0] == receipt.platform_ids[0]
    assert len(grown.platform_ids) > 2
    assert orjson.loads(await redis.get(keys.receipt("g1"))) == grown.platform_ids


async def test_buttons_become_an_inline_keyboard_and_long_values_are_stored(
    fake, channel, redis, keys
):
    long_value = "choose the second option please " * 4
    msg = outbound(
        "telegram",
        "42",
        "Pick one",
        id="b1",
        buttons=[Button(label="Yes", value="yes"), Button(label="Long", value=long_value)],
    )
    await channel.send(msg)
    rows = fake.sent("42")[-1]["reply_markup"]["inline_keyboard"]
    assert rows[0][0] == {"text": "Yes", "callback_data": "yes"}
    data = rows[1][0]["callback_data"]
    assert data.startswith("#b:") and len(data.encode()) <= 64
    stored = await redis.get(keys.kv(f"telegram:button:{data[3:]}"))
    assert stored.decode() == long_value


async def test_html_refused_falls_back_to_plain_text(fake, channel):
    fake.script(
        "sendMessage",
        Scripted(
            400,
            {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: can't parse entities: Unexpected end tag",
            },
        ),
    )
    await channel.send(outbound("telegram", "42", "**odd** text", id="p1"))
    last = fake.sent("42")[-1]
    assert last["text"] == "**odd** text" and "parse_mode" not in last


async def test_errors_are_named_for_what_happens_next(fake, channel):
    fake.script("sendMessage", FakeTelegram.rate_limited(7))
    with pytest.raises(RateLimited) as limited:
        await channel.send(outbound("telegram", "42", "x", id="e1"))
    assert limited.value.retry_after == 7
    fake.script(
        "sendMessage", Scripted(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    )
    with pytest.raises(RetryableError):
        await channel.send(outbound("telegram", "42", "x", id="e2"))
    fake.script(
        "sendMessage",
        Scripted(
            400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        ),
    )
    with pytest.raises(PermanentError, match="chat not found"):
        await channel.send(outbound("telegram", "42", "x", id="e3"))
    with pytest.raises(PermanentError, match="to edit not found"):
        await channel.send(
            outbound("telegram", "42", "x", id="e4", action="edit", target_id="424242")
        )


async def test_a_retry_resumes_after_the_chunks_already_sent(fake, channel):
    msg = outbound("telegram", "42", LONG, id="r1")
    calls_before = len(fake.sent("42"))
    # the second chunk hits a rate limit
    original = fake.do_sendMessage
    count = 0

    async def limited_second(params):
        nonlocal count
        count += 1
        if count == 2:
            return fake.error(429, "Too Many Requests: retry after 1", retry_after=1)
        return await original(params)

    fake.do_sendMessage = limited_second
    with pytest.raises(RateLimited):
        await channel.send(msg)
    receipt = await channel.send(msg)
    texts = [p["text"] for p in fake.sent("42")[calls_before:]]
    assert len(texts) == len(receipt.platform_ids) + 1  # one refused, none repeated
    assert texts[1] == texts[2]  # the refused chunk, sent again
    assert len(set(receipt.platform_ids)) == len(receipt.platform_ids)


async def test_a_wrong_token_is_reported_as_a_problem(fake, redis, keys):
    problems: dict[str, str] = {}
    ch = TelegramChannel(
        "999:nope",
        api_url=fake.base,
        ledger=Ledger(redis, keys),
        redis=redis,
        keys=keys,
        problems=problems,
    )
    await ch.start()
    await ch.aclose()
    assert "telegram" in problems
