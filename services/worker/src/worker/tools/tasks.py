"""Scheduled tasks: schedule_task, list_tasks, update_task, pause_task, resume_task, cancel_task.

Changes go to the scheduler as ``TaskCommand`` entries of the agent's control lane; the
scheduler owns the tasks hash, which ``list_tasks`` reads directly. A task belongs to the
session that scheduled it: it fires there, and only that session lists or changes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from common.messages import Task, TaskCommand, TaskSchedule
from common.schedules import ScheduleError, validate
from worker import emits
from worker.context import RunContext, ToolError
from worker.prompt import local_time
from worker.tools.base import Args, Tool

MIN_INTERVAL_S = 60.0
WHEN = (
    "Give exactly one of: at (a local time like 2025-03-01 09:30, or ISO 8601 with an "
    "offset), cron (5 fields, in the install's timezone), every_seconds (at least 60)."
)


class WhenArgs(Args):
    at: str = Field(default="", description="one-off: when to run")
    cron: str = Field(default="", description="recurring: a cron expression")
    every_seconds: float = Field(default=0, ge=0, description="recurring: the interval")

    def schedule(self, ctx: RunContext) -> TaskSchedule | None:
        given = [bool(self.at), bool(self.cron), bool(self.every_seconds)]
        if sum(given) == 0:
            return None
        if sum(given) > 1:
            raise ToolError(WHEN)
        if self.cron:
            schedule = TaskSchedule(kind="cron", cron=self.cron)
            try:
                validate(schedule)
            except ScheduleError as exc:
                raise ToolError(str(exc)) from exc
            return schedule
        if self.every_seconds:
            if self.every_seconds < MIN_INTERVAL_S:
                raise ToolError(f"every_seconds must be at least {MIN_INTERVAL_S:.0f}")
            return TaskSchedule(kind="interval", every_s=self.every_seconds)
        try:
            moment = datetime.fromisoformat(self.at)
        except ValueError as exc:
            raise ToolError(f"cannot read the time {self.at!r}: {exc}") from exc
        at_ms = int(moment.replace(tzinfo=moment.tzinfo or ctx.tz).timestamp() * 1000)
        if at_ms <= ctx.now_ms:
            raise ToolError(f"{self.at} is in the past (now: {local_time(ctx.now_ms, ctx.tz)})")
        return TaskSchedule(kind="once", at_ms=at_ms)


def describe(task: Task, ctx: RunContext) -> str:
    s = task.schedule
    if s.kind == "once" and s.at_ms is not None:
        when = f"once at {local_time(s.at_ms, ctx.tz)}"
    elif s.kind == "cron":
        when = f"cron {s.cron!r}"
    else:
        when = f"every {s.every_s:.0f} s"
    nxt = f"; next {local_time(task.next_ms, ctx.tz)}" if task.next_ms else ""
    return f"{task.id} [{task.status}] {when}{nxt}: {task.prompt[:200]}"


def _command(ctx: RunContext, cmd: TaskCommand) -> None:
    ctx.emits.append(emits.control(ctx.turn, ctx.next_id("task-command"), cmd))


class ScheduleArgs(WhenArgs):
    prompt: str = Field(min_length=1, description="what to do when the task fires")


async def schedule_task(ctx: RunContext, args: ScheduleArgs) -> str:
    schedule = args.schedule(ctx)
    if schedule is None:
        raise ToolError(WHEN)
    task = Task(
        id=ctx.next_id("task"),
        agent=ctx.name,
        session=ctx.turn.session,
        destination=ctx.turn.reply_to,
        prompt=args.prompt,
        schedule=schedule,
        next_ms=schedule.at_ms,
        created_ms=ctx.now_ms,
    )
    ctx.tasks[task.id] = task
    _command(ctx, TaskCommand(action="create", task=task))
    return f"scheduled: {describe(task, ctx)}"


async def _tasks(ctx: RunContext) -> dict[str, Task]:
    raw: dict[bytes | str, bytes | str] = await ctx.redis.hgetall(ctx.keys.tasks)
    stored = (Task.model_validate_json(v) for v in raw.values())
    found = {t.id: t for t in stored if t.agent == ctx.name and t.session == ctx.turn.session}
    return found | ctx.tasks


async def _find(ctx: RunContext, task_id: str) -> Task:
    task = (await _tasks(ctx)).get(task_id)
    if task is None:
        raise ToolError(f"no task {task_id!r} in this conversation (see list_tasks)")
    return task


class ListArgs(Args):
    status: Literal["active", "paused", "all"] = "active"


async def list_tasks(ctx: RunContext, args: ListArgs) -> str:
    tasks = sorted((await _tasks(ctx)).values(), key=lambda t: (t.next_ms or 0, t.created_ms))
    shown = [t for t in tasks if args.status == "all" or t.status == args.status]
    return "\n".join(describe(t, ctx) for t in shown) or f"no {args.status} tasks"


class UpdateArgs(WhenArgs):
    task_id: str
    prompt: str = Field(default="", description="the new instructions; empty keeps them")


async def update_task(ctx: RunContext, args: UpdateArgs) -> str:
    task = await _find(ctx, args.task_id)
    schedule = args.schedule(ctx)
    if schedule is None and not args.prompt:
        raise ToolError("nothing to change: give a prompt or a new schedule")
    task = task.model_copy(
        update={"prompt": args.prompt or task.prompt, "schedule": schedule or task.schedule}
    )
    ctx.tasks[task.id] = task
    _command(
        ctx,
        TaskCommand(
            action="update", task_id=task.id, prompt=args.prompt or None, schedule=schedule
        ),
    )
    return f"updated: {describe(task, ctx)}"


class TaskIdArgs(Args):
    task_id: str


STATUS = {"pause": "paused", "resume": "active", "cancel": "cancelled"}


def _status_tool(action: Literal["pause", "resume", "cancel"]) -> Tool:
    async def run(ctx: RunContext, args: TaskIdArgs) -> str:
        task = await _find(ctx, args.task_id)
        if task.status in ("done", "cancelled"):
            raise ToolError(f"task {task.id} is {task.status}")
        ctx.tasks[task.id] = task.model_copy(update={"status": STATUS[action]})
        _command(ctx, TaskCommand(action=action, task_id=task.id))
        return f"task {task.id} is now {STATUS[action]}"

    return Tool(f"{action}_task", f"{action.capitalize()} a scheduled task.", TaskIdArgs, run)


TOOLS = [
    Tool(
        "schedule_task",
        "Schedule a prompt to run later in this conversation, once or repeatedly. " + WHEN,
        ScheduleArgs,
        schedule_task,
    ),
    Tool("list_tasks", "List the scheduled tasks of this conversation.", ListArgs, list_tasks),
    Tool(
        "update_task",
        "Change the prompt and/or the schedule of a task. " + WHEN,
        UpdateArgs,
        update_task,
    ),
    _status_tool("pause"),
    _status_tool("resume"),
    _status_tool("cancel"),
]
