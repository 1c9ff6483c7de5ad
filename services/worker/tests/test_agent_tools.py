# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The messaging and task tools: what they emit, what they refuse."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from common.bus import ClaimedLane
from common.keys import Stage
from scheduler.firing import ControlHandler
from scheduler.store import TaskStore
from tests.fakes.anthropic import reply, text, tool_use
from tests.support.agent_harness import texts


def _results(request) -> dict[str, Any]:
    return {b["tool_use_id"]: b for b in request["messages"][-1]["content"]}


async def test_messaging_tools_emit_edits_reactions_and_questions(harness, fake_anthropic):
    fake_anthropic.push(
        reply(
            tool_use("send_message", {"text": "working on it"}, "t1"),
            tool_use("add_reaction", {"message_id": "p-user", "emoji": "👀"}, "t2"),
            tool_use("ask_user_question", {"question": "Tea?", "options": ["yes", "no"]}, "t3"),
            tool_use("send_message", {"to": "nowhere", "text": "x"}, "t4"),
            tool_use("edit_message", {"to": "helper", "message_id": "m", "text": "y"}, "t5"),
        ),
        lambda body: reply(
            tool_use("edit_message", {"message_id": _sent_id(body), "text": "done"}, "t6")
        ),
        reply(text("")),
    )
    await harness.say("make tea")
    await harness.step()

    results = _results(fake_anthropic.requests[1])
    assert not any(results[t]["is_error"] for t in ("t1", "t2", "t3"))
    assert results["t4"]["is_error"] and "you may send to: helper, ops" in results["t4"]["content"]
    assert results["t5"]["is_error"] and "only in a chat" in results["t5"]["content"]
    sends = await harness.sent()
    assert [(o.text, [b.value for b in o.buttons]) for o in sends] == [
        ("working on it", []),
        ("Tea?", ["yes", "no"]),
    ]
    [react] = await harness.sent(action="react")
    assert (react.target_id, react.emoji) == ("p-user", "👀")
    [edit] = await harness.sent(action="edit")
    assert (edit.target_id, edit.text) == (sends[0].id, "done")


def _sent_id(body) -> str:
    result = str(_results(body)["t1"]["content"])
    return result.removeprefix("sent (message id ").removesuffix(")")


async def _apply_control(harness) -> None:
    """What the scheduler does with the agent's control lane."""
    handler = ControlHandler(TaskStore(harness.redis, harness.keys), "Europe/Berlin")
    lane: ClaimedLane = await harness.claim(Stage.CONTROL)
    for entry in lane.entries:
        await handler(lane, entry)
    await harness.bus.finish(lane, [e.id for e in lane.entries])


async def test_task_tools_go_through_the_scheduler(harness, fake_anthropic):
    fake_anthropic.push(
        reply(
            tool_use("schedule_task", {"prompt": "call mom", "at": "2030-01-02 09:30"}, "t1"),
            tool_use("schedule_task", {"prompt": "x", "cron": "every day"}, "t2"),
            tool_use("schedule_task", {"prompt": "x", "at": "2001-01-01 10:00"}, "t3"),
            tool_use("list_tasks", {}, "t4"),
        ),
        reply(text("Scheduled.")),
    )
    await harness.say("remind me to call mom on Jan 2nd 2030 at 9:30")
    await harness.step()
    results = _results(fake_anthropic.requests[1])
    assert "invalid cron" in results["t2"]["content"] and results["t2"]["is_error"]
    assert "in the past" in results["t3"]["content"]
    [create] = await harness.commands()
    assert create.task is not None
    berlin = datetime(2030, 1, 2, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert create.task.schedule.at_ms == int(berlin.timestamp() * 1000)
    task_id = create.task.id
    assert task_id in results["t4"]["content"]  # listed before the scheduler saw it
    await _apply_control(harness)

    fake_anthropic.push(
        reply(
            tool_use("list_tasks", {}, "t5"),
            tool_use("update_task", {"task_id": task_id, "prompt": "call mom and dad"}, "t6"),
            tool_use("pause_task", {"task_id": task_id}, "t7"),
            tool_use("cancel_task", {"task_id": "nope"}, "t8"),
            tool_use("list_tasks", {"status": "paused"}, "t9"),
        ),
        reply(text("Paused.")),
    )
    await harness.say("what is scheduled? and pause it")
    await harness.step()
    results = _results(fake_anthropic.requests[3])
    assert "2030-01-02T09:30:00+01:00" in results["t5"]["content"]
    assert results["t8"]["is_error"] and "no task 'nope'" in results["t8"]["content"]
    assert f"{task_id} [paused]" in results["t9"]["content"]
    assert "call mom and dad" in results["t9"]["content"]
    await _apply_control(harness)
    stored = await TaskStore(harness.redis, harness.keys).get(task_id)
    assert stored is not None and stored.status == "paused"
    assert stored.prompt == "call mom and dad"


async def test_other_sessions_do_not_see_a_sessions_tasks(harness, fake_anthropic):
    fake_anthropic.push(reply(tool_use("schedule_task", {"prompt": "p", "every_seconds": 3600})))
    fake_anthropic.push(reply(text("ok")))
    await harness.say("every hour, please")
    await harness.step()
    await _apply_control(harness)
    fake_anthropic.push(reply(tool_use("list_tasks", {"status": "all"}, "t1")), reply(text("-")))
    await harness.say("my tasks?", chat="other")
    await harness.step()
    assert "no all tasks" in texts(fake_anthropic.requests[-1])
