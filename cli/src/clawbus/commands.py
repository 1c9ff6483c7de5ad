"""The operator commands: send, lanes, dlq, tasks."""

from __future__ import annotations

import asyncio
import time

import orjson

from common.context import Context
from common.envelope import Envelope, derive_id, new_trace_id, now_ms
from common.keys import Stage
from common.messages import (
    Destination,
    InboundMessage,
    Sender,
    Task,
    TaskCommand,
    TaskSchedule,
)
from common.schedules import ScheduleError, validate


async def send(ctx: Context, conversation: str, text: str, sender: str, wait_s: float) -> int:
    """Inject a web chat message as ingest would, and print the agent's reply."""
    history = ctx.keys.webchat_history(conversation)
    after = await ctx.streams.last_id(history)
    msg = InboundMessage(
        channel="web",
        chat_id=conversation,
        message_id=new_trace_id(),
        sender=Sender(id=sender, name=sender),
        text=text,
        sent_ms=now_ms(),
        is_dm=True,
    )
    env = Envelope(
        id=msg.message_id,
        kind="inbound",
        trace_id=new_trace_id(),
        accepted_ms=now_ms(),
        payload=msg.model_dump(mode="json"),
    )
    await ctx.bus.publish(Stage.ROUTE, [(msg.conversation, env)])
    fields = {"kind": "message", "role": "user", "text": text, "ts": str(msg.sent_ms), "agent": ""}
    entry = await ctx.streams.append(history, fields, maxlen=2000)
    after = entry
    print(f"sent {msg.message_id} (trace {env.trace_id})")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for _, f in await ctx.streams.range(history, after=after):
            if f.get("role") == "agent":
                print(f"{f.get('agent', 'agent')}: {f.get('text', '')}")
                return 0
        await asyncio.sleep(0.2)
    if wait_s > 0:
        print("no reply yet (is `clawbus up` running?)")
        return 1
    return 0


async def lanes(ctx: Context, top: int) -> int:
    for stage in Stage:
        stats = await ctx.bus.stats(stage)
        holders = await ctx.bus.holders(stage)
        print(
            f"{stage.value:8} backlog={stats.backlog} ready={stats.ready} "
            f"active={stats.active} oldest={stats.oldest_age_s:.1f}s"
        )
        for lane, length, age in await ctx.bus.lane_lengths(stage, top):
            holder = f" held (token {holders[lane]})" if lane in holders else ""
            entries = "1 entry" if length == 1 else f"{length} entries"
            print(f"    {lane}: {entries}, oldest {age:.1f}s{holder}")
    return 0


async def dlq_list(ctx: Context) -> int:
    found = 0
    for stage in Stage:
        for d in await ctx.bus.dead_letters(stage):
            found += 1
            env = orjson.loads(d.envelope) if d.envelope else {}
            print(
                f"{d.stage} {d.partition}:{d.id} lane={d.lane} attempts={d.attempts} "
                f"id={env.get('id', '?')}\n    error: {d.error}"
            )
    if not found:
        print("no dead letters")
    return 0


async def dlq_replay(ctx: Context, stage: Stage, ref: str | None) -> int:
    letters = await ctx.bus.dead_letters(stage, count=10_000)
    if ref is not None:
        letters = [d for d in letters if f"{d.partition}:{d.id}" == ref]
        if not letters:
            print(f"no dead letter {ref} in stage {stage.value}")
            return 1
    for d in letters:
        lane = await ctx.bus.replay(stage, d.partition, d.id)
        print(f"replayed {d.partition}:{d.id} into {stage.value} lane {lane}")
    return 0


async def task_add(
    ctx: Context,
    agent: str,
    conversation: str,
    prompt: str,
    in_s: float | None,
    cron: str | None,
    every_s: float | None,
) -> int:
    if cron is not None:
        schedule = TaskSchedule(kind="cron", cron=cron)
    elif every_s is not None:
        schedule = TaskSchedule(kind="interval", every_s=every_s)
    else:
        schedule = TaskSchedule(kind="once", at_ms=now_ms() + int((in_s or 0) * 1000))
    try:
        validate(schedule)
    except ScheduleError as exc:
        print(f"not scheduled: {exc}")
        return 2
    dest = Destination(channel="web", chat_id=conversation)
    task = Task(
        id=new_trace_id()[:12],
        agent=agent,
        session=f"{agent}|{dest.lane}",
        destination=dest,
        prompt=prompt,
        schedule=schedule,
    )
    cmd = TaskCommand(action="create", task=task)
    env = Envelope(
        id=derive_id("cli-task", task.id),
        kind="task_command",
        trace_id=new_trace_id(),
        accepted_ms=now_ms(),
        payload=cmd.model_dump(mode="json"),
    )
    await ctx.bus.publish(Stage.CONTROL, [(agent, env)])
    print(f"task {task.id} scheduled ({schedule.kind})")
    return 0


async def task_list(ctx: Context) -> int:
    raw = await ctx.redis.hgetall(ctx.keys.tasks)
    for value in raw.values():
        t = Task.model_validate_json(value)
        nxt = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t.next_ms / 1000))
            if t.next_ms
            else "-"
        )
        print(f"{t.id} {t.status:9} {t.agent} {t.schedule.kind} next={nxt} {t.prompt[:60]!r}")
    if not raw:
        print("no tasks")
    return 0
