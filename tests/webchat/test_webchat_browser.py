# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The web chat in a real headless Chromium against real ingest, router, worker and
delivery processes: send, receive, typing, reload with history, reconnect after a dropped
socket and after an ingest restart (nothing lost, nothing repeated), several
conversations kept server-side, markdown rendered safely, and the token enforced."""

from __future__ import annotations

import os
import uuid

import pytest
from playwright.async_api import Page, expect

from common.envelope import Envelope, now_ms
from common.keys import Stage
from common.messages import Destination, OutboundMessage
from tests.support import DEFAULT_CONFIG_FILE
from tests.support.processes import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TOKEN = "webchat-test-token"
SERVICES = ("ingest", "router", "worker", "delivery")


@pytest.fixture
async def stack(redis_server, namespace, tmp_path):
    env = {
        **os.environ,
        "CLAWBUS_REDIS_URL": redis_server.url,
        "CLAWBUS_NAMESPACE": namespace,
        "CLAWBUS_CONFIG_PATH": DEFAULT_CONFIG_FILE,
        "CLAWBUS_WEBCHAT_TOKEN": TOKEN,
        "CLAWBUS_LOG_JSON": "true",
        "CLAWBUS_LLM_PROVIDER": "echo",
        "CLAWBUS_ECHO_DELAY_S": "1.0",
        "CLAWBUS_LEASE_TTL_S": "3",
    }
    env.pop("ANTHROPIC_API_KEY", None)
    procs = {
        name: ServiceProcess(name, env, log_path=tmp_path / f"{name}.log").start()
        for name in SERVICES
    }
    try:
        for proc in procs.values():
            await proc.wait_ready_async(60)
        yield procs
    finally:
        for proc in procs.values():
            proc.terminate(15)


async def bubbles(page: Page) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = await page.eval_on_selector_all(
        "#log .msg:not(.pending)",
        "els => els.map(e => [e.classList.contains('user') ? 'user' : 'agent',"
        " e.querySelector('.body').innerText])",
    )
    return rows


async def send(page: Page, text: str) -> None:
    await page.fill("#input", text)
    await page.press("#input", "Enter")


async def wait_for_reply_to(page: Page, text: str, count: int = 1) -> None:
    await expect(page.locator("#log .msg.agent", has_text=text)).to_have_count(
        count, timeout=30_000
    )


def assert_once_in_order(seen: list[tuple[str, str]], expected: list[str]) -> None:
    users = [t for role, t in seen if role == "user"]
    agents = [t for role, t in seen if role == "agent"]
    assert users == expected, seen
    assert len(agents) == len(expected), seen
    for said, reply in zip(expected, agents, strict=True):
        assert said.split()[0] in reply, (said, reply)
    # each reply comes after the message it answers
    roles = [role for role, _ in seen]
    assert roles == ["user", "agent"] * len(expected), seen


async def test_chat_history_reconnect_and_restart(stack, browser, bus, tmp_path):
    ingest = stack["ingest"]
    page = await browser.new_page()
    await page.goto(f"{ingest.url}/?token={TOKEN}&user=alice")
    await expect(page.locator("#status")).to_have_text("connected", timeout=15_000)

    # send and receive, with markdown rendered and markup escaped
    await send(page, "hello **world** <img src=x onerror=alert(1)>")
    await wait_for_reply_to(page, "hello")
    assert await page.locator("#log .msg.user strong", has_text="world").count() == 1
    assert await page.locator("#log img").count() == 0
    await expect(page.locator("#log .msg.user .body")).to_contain_text("<img src=x")

    # typing: delivery turns an outbound "typing" into the indicator
    conv = await page.evaluate("window.clawbus.conversation()")
    typing = OutboundMessage(
        id=uuid.uuid4().hex,
        action="typing",
        agent="assistant",
        session="s",
        destination=Destination(channel="web", chat_id=conv),
    )
    await bus.publish(
        Stage.DELIVER,
        [
            (
                typing.destination.lane,
                Envelope(
                    id=typing.id,
                    kind="outbound",
                    trace_id="t",
                    accepted_ms=now_ms(),
                    payload=typing.model_dump(mode="json"),
                ),
            )
        ],
    )
    await expect(page.locator("#typing")).to_contain_text("is typing", timeout=15_000)

    # reload: the history comes back, once
    await page.reload()
    await wait_for_reply_to(page, "hello")
    assert_once_in_order(await bubbles(page), ["hello world <img src=x onerror=alert(1)>"])

    # the socket drops right after sending: the reply arrives while it is down
    await send(page, "second message")
    await page.evaluate("window.clawbus.drop()")
    await wait_for_reply_to(page, "second")
    await page.wait_for_timeout(1500)

    # ingest dies; a message typed meanwhile is sent when it is back
    ingest.kill()
    await expect(page.locator("#status")).to_have_text("reconnecting…", timeout=10_000)
    await send(page, "third while down")
    ingest.start()
    await ingest.wait_ready_async(60)
    await wait_for_reply_to(page, "third")
    await page.wait_for_timeout(2000)  # room for a repeat to show up
    expected = ["hello world <img src=x onerror=alert(1)>", "second message", "third while down"]
    assert_once_in_order(await bubbles(page), expected)
    await page.reload()
    await wait_for_reply_to(page, "third")
    assert_once_in_order(await bubbles(page), expected)
    await page.close()


async def test_conversations_follow_the_user_to_a_new_browser(stack, browser):
    url = stack["ingest"].url
    first = await browser.new_context()
    page = await first.new_page()
    await page.goto(f"{url}/?token={TOKEN}&user=bob")
    await expect(page.locator("#status")).to_have_text("connected", timeout=15_000)
    await send(page, "in the first conversation")
    await wait_for_reply_to(page, "first")
    await page.click("#new")
    await expect(page.locator("#convs .conv")).to_have_count(2, timeout=15_000)
    await expect(page.locator("#log .msg")).to_have_count(0)
    await expect(page.locator("#status")).to_have_text("connected", timeout=15_000)
    await send(page, "in the second conversation")
    await wait_for_reply_to(page, "second")
    await first.close()

    fresh = await browser.new_context()  # a new browser: no local storage
    page = await fresh.new_page()
    await page.goto(f"{url}/?token={TOKEN}&user=bob")
    convs = page.locator("#convs .conv")
    await expect(convs).to_have_count(2, timeout=15_000)
    titles = await convs.all_inner_texts()
    assert titles == ["in the second conversation", "in the first conversation"]
    await convs.nth(1).click()
    await wait_for_reply_to(page, "first")
    assert [r for r, _ in await bubbles(page)] == ["user", "agent"]
    await fresh.close()


async def test_strangers_without_the_token_cannot_talk(stack, browser):
    page = await browser.new_page()
    await page.goto(f"{stack['ingest'].url}/?token=wrong&user=eve")
    await expect(page.locator("#status")).to_contain_text("not authorised", timeout=15_000)
    await page.close()
