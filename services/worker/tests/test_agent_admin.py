# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""Admin paths: create_agent behind an approval, /cost, and the memory and cost CLI."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from clawbus.__main__ import main as clawbus
from common.keys import Stage
from tests.fakes.anthropic import reply, text, tool_use
from tests.support import DEFAULT_CONFIG_FILE
from worker.agents import RuntimeAgent
from worker.approvals import Approval
from worker.commands import ADMINS_ONLY

USAGE = {
    "input_tokens": 100,
    "output_tokens": 20,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 500,
}


async def test_create_agent_needs_an_admin_and_then_works(harness, fake_anthropic, redis, keys):
    fake_anthropic.push(
        reply(
            tool_use(
                "create_agent",
                {"name": "poet", "system_prompt": "Write poems.", "tools": ["send_message"]},
            )
        ),
        reply(text("I asked an admin.")),
    )
    await harness.say("make me a poet agent", sender="bob")
    await harness.step()
    [card] = [o for o in await harness.sent() if o.buttons]
    approve, reject = (b.value for b in card.buttons)
    approval_id = approve.removeprefix("/approve ")
    assert reject == f"/reject {approval_id}" and "Write poems." in card.text
    pending = Approval.model_validate_json(await redis.get(keys.approval(approval_id)))
    assert pending.status == "pending" and pending.spec.tools == ["send_message"]

    await harness.say(approve, sender="bob")  # a member's click does not count
    await harness.step()
    assert not await redis.hexists(keys.runtime_agents, "poet")
    await harness.say(approve, sender="alice")
    await harness.step()
    assert [o.text for o in await harness.sent()][-2:] == [
        ADMINS_ONLY,
        'Approved: the agent "poet" now exists.',
    ]
    poet = RuntimeAgent.model_validate_json(await redis.hget(keys.runtime_agents, "poet"))
    assert poet.created_by == "assistant" and poet.approved_by == "web:alice"
    assert poet.config.destinations == {"parent": "assistant"}

    # the requesting agent hears the decision, and can now reach the new agent
    fake_anthropic.push(
        reply(tool_use("send_message", {"to": "poet", "text": "a haiku about tea, please"})),
        reply(text("Poet is on it.")),
        reply(text("Green leaves in hot water")),  # poet's turn
    )
    await harness.step()
    assert "was approved by web:alice" in str(fake_anthropic.requests[2]["messages"])
    await harness.step()
    [poet_request] = fake_anthropic.requests[4:]
    assert [t["name"] for t in poet_request["tools"]] == ["send_message"]
    assert poet_request["system"][0]["text"].startswith("Write poems.")
    assert "- parent: agent assistant" in poet_request["system"][0]["text"]
    [back] = await harness.entries(Stage.AGENT, "assistant|web:room")
    assert back.payload["message"]["text"] == "Green leaves in hot water"
    fake_anthropic.push(reply(text("Poet wrote: Green leaves in hot water")))
    await harness.step()

    await harness.say(approve, sender="alice")  # a second answer changes nothing
    await harness.step()
    assert (await harness.sent())[-1].text == f"Request {approval_id} was already approved."


async def test_cost_is_counted_per_agent_and_model(harness, fake_anthropic):
    labels = {"agent": "assistant", "model": "claude-sonnet-4-6", "kind": "cache_read"}
    before = REGISTRY.get_sample_value("clawbus_llm_tokens_total", labels) or 0
    fake_anthropic.push(reply(text("hi"), usage=USAGE), reply(text("hi again"), usage=USAGE))
    await harness.say("hello")
    await harness.step()
    await harness.say("hello again")
    await harness.step()
    after = REGISTRY.get_sample_value("clawbus_llm_tokens_total", labels)
    assert after == before + 2000

    await harness.say("/cost", sender="bob")
    await harness.say("/cost", sender="alice")
    await harness.step()
    denied, report = (o.text for o in (await harness.sent())[-2:])
    assert denied == ADMINS_ONLY
    # per call: 100 x $3 + 20 x $15 + 500 x $3.75 + 1000 x $0.30 per million = $0.002775
    assert "claude-sonnet-4-6: 200 input, 40 output, 2,000 cache read" in report
    assert "$0.0056" in report  # 2 x 0.002775, rounded
    assert len(fake_anthropic.requests) == 2


@pytest.fixture
def cli_env(monkeypatch, redis_server, namespace):
    monkeypatch.setenv("CLAWBUS_REDIS_URL", redis_server.url)
    monkeypatch.setenv("CLAWBUS_NAMESPACE", namespace)
    monkeypatch.setenv("CLAWBUS_CONFIG_PATH", DEFAULT_CONFIG_FILE)


async def test_memory_cli_shows_and_sets_what_the_agent_reads(
    harness, fake_anthropic, cli_env, capsys, tmp_path
):
    fake_anthropic.push(reply(tool_use("update_memory", {"mode": "replace", "text": "likes tea"})))
    fake_anthropic.push(reply(text("noted")))
    await harness.say("remember I like tea")
    await harness.step()
    assert await asyncio.to_thread(clawbus, ["memory", "show", "assistant"]) == 0
    assert capsys.readouterr().out == "likes tea\n"

    doc = tmp_path / "memory.md"
    doc.write_text("Alice prefers coffee now.")
    assert await asyncio.to_thread(clawbus, ["memory", "set", "assistant", "--file", str(doc)]) == 0
    fake_anthropic.push(reply(text("coffee it is")))
    await harness.say("what do I like?")
    await harness.step()
    assert "Alice prefers coffee now." in fake_anthropic.requests[-1]["system"][1]["text"]
    assert await asyncio.to_thread(clawbus, ["memory", "show", "nobody"]) == 1


async def test_cost_cli_prints_totals(harness, fake_anthropic, cli_env, capsys):
    assert await asyncio.to_thread(clawbus, ["cost"]) == 0
    assert "no model usage" in capsys.readouterr().out
    fake_anthropic.push(reply(text("hi"), usage=USAGE))
    await harness.say("hello")
    await harness.step()
    assert await asyncio.to_thread(clawbus, ["cost"]) == 0
    out = capsys.readouterr().out
    assert "assistant" in out and "claude-sonnet-4-6" in out and "1,000" in out
    assert "total estimated cost: $0.0028" in out
