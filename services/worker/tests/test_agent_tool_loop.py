# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The tool-use loop through the real anthropic SDK against the fake Messages API."""

from __future__ import annotations

import copy

from common.keys import Stage
from tests.fakes.anthropic import reply, text, tool_use
from tests.support.agent_harness import CONFIG, Harness, texts


async def test_multi_step_tool_use_runs_in_order(harness, fake_anthropic):
    fake_anthropic.push(
        reply(
            text("Let me set that up."),
            tool_use("schedule_task", {"prompt": "water the plants", "cron": "0 9 * * *"}, "tu_a"),
        ),
        reply(
            tool_use("send_message", {"to": "ops", "text": "Plants task created"}, "tu_b"),
            tool_use("update_memory", {"mode": "append", "text": "Alice has plants"}, "tu_c"),
        ),
        reply(text("Done: every day at 9.<internal>check on it tomorrow</internal>")),
    )
    await harness.say("remind me daily at 9 to water the plants")
    emits = await harness.step()

    assert len(fake_anthropic.requests) == 3
    second, third = fake_anthropic.requests[1], fake_anthropic.requests[2]
    [result] = second["messages"][-1]["content"]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "tu_a"
    assert not result["is_error"] and "scheduled" in result["content"]
    assert [b["tool_use_id"] for b in third["messages"][-1]["content"]] == ["tu_b", "tu_c"]

    assert [o.text for o in await harness.sent("room")] == [
        "Let me set that up.",
        "Done: every day at 9.",
    ]
    assert [o.text for o in await harness.sent("ops-room")] == ["Plants task created"]
    [create] = await harness.commands()
    assert create.action == "create" and create.task is not None
    assert create.task.schedule.cron == "0 9 * * *"
    assert create.task.session == "assistant|web:room"
    assert await harness.memory() == "Alice has plants"
    # the emits keep the order the model produced them in
    kinds = [(e.stage, e.envelope.payload.get("text")) for e in emits]
    assert kinds == [
        (Stage.DELIVER, "Let me set that up."),
        (Stage.CONTROL, None),
        (Stage.DELIVER, "Plants task created"),
        (Stage.DELIVER, "Done: every day at 9."),
    ]
    [turn] = await harness.history()
    assert [m.role for m in turn.messages] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]


async def test_prompt_is_cached_and_carries_context(harness, fake_anthropic):
    fake_anthropic.push(reply(text("hello")))
    await harness.say("hi <b>there</b>")
    await harness.step()
    [request] = fake_anthropic.requests
    assert all(block["cache_control"] == {"type": "ephemeral"} for block in request["system"])
    assert request["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in request["tools"][0]
    assert request["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    stable, context = (block["text"] for block in request["system"])
    assert stable.startswith("You are Assistant, a helpful test agent.")
    assert "- ops: web chat ops-room" in stable
    assert "- helper: agent helper: answers questions for other agents" in stable
    assert "Europe/Berlin" in stable and "<memory>" in context
    prompt = texts(request)
    assert 'timezone="Europe/Berlin"' in prompt and 'answer_to="web:room"' in prompt
    assert 'sender="Alice"' in prompt and "hi &lt;b&gt;there&lt;/b&gt;" in prompt
    assert {t["name"] for t in request["tools"]} >= {"send_message", "create_agent"}


async def test_tool_call_limit_ends_the_turn(redis, keys, bus, fake_anthropic):
    config = copy.deepcopy(CONFIG)
    config["agents"]["assistant"]["max_tool_calls"] = 4
    harness = Harness(redis, keys, bus, fake_anthropic.url, config=config)
    for i in range(3):
        fake_anthropic.push(reply(tool_use("list_tasks", {}, f"tu_{i}")))
    fake_anthropic.push(
        reply(tool_use("list_tasks", {}, "tu_3"), tool_use("list_tasks", {}, "tu_4")),
        reply(text("Here is what I found.")),
    )
    await harness.say("list my tasks, again and again")
    await harness.step()

    requests = fake_anthropic.requests
    assert [r["tool_choice"]["type"] for r in requests] == ["auto"] * 4 + ["none"]
    ran, refused = requests[4]["messages"][-1]["content"]
    assert ran["tool_use_id"] == "tu_3" and not ran["is_error"]
    assert refused["tool_use_id"] == "tu_4" and refused["is_error"]
    assert "limit of 4 tool calls" in refused["content"]
    assert [o.text for o in await harness.sent()] == ["Here is what I found."]
    await harness.aclose()


async def test_a_model_ignoring_tool_choice_still_ends_the_turn(harness, fake_anthropic):
    for i in range(10):
        fake_anthropic.push(reply(tool_use("list_tasks", {}, f"tu_{i}")))
    await harness.say("loop forever")
    await harness.step()
    assert len(fake_anthropic.requests) == 9  # max_tool_calls 8, then one call without tools
    assert len(fake_anthropic.script) == 1
    [turn] = await harness.history()
    assert turn.messages[-1].role == "user"  # every tool_use has its tool_result


async def test_tools_outside_the_allow_list_are_refused(redis, keys, bus, fake_anthropic):
    config = copy.deepcopy(CONFIG)
    config["agents"]["assistant"]["tools"] = ["send_message"]
    h = Harness(redis, keys, bus, fake_anthropic.url, config=config)
    fake_anthropic.push(
        reply(tool_use("update_memory", {"mode": "replace", "text": "owned"}, "tu_x")),
        reply(text("I can't do that.")),
    )
    await h.say("remember that you are owned")
    await h.step()
    await h.aclose()

    assert [t["name"] for t in fake_anthropic.requests[0]["tools"]] == ["send_message"]
    [refused] = fake_anthropic.requests[1]["messages"][-1]["content"]
    assert refused["is_error"] and "no tool 'update_memory'" in refused["content"]
    assert await h.memory() == ""


async def test_empty_and_internal_only_answers_send_nothing(harness, fake_anthropic):
    fake_anthropic.push(reply(text("<internal>nothing to add</internal>")), reply())
    await harness.say("thanks!")
    await harness.step()
    await harness.say("bye")
    await harness.step()
    assert await harness.sent() == []
    assert len(await harness.history()) == 2
