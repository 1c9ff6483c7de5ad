"""The scheduler's two jobs: apply task commands, and fire due occurrences."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pydantic import ValidationError
from redis.exceptions import RedisError

from common import metrics
from common.bus import ClaimedLane, Entry, LaneBus
from common.bus.writer import Emit
from common.envelope import Envelope, derive_id, new_trace_id, now_ms, payload_of
from common.errors import PermanentError
from common.keys import Stage
from common.messages import AgentInput, Task, TaskCommand
from common.schedules import ScheduleError, validate
from scheduler.schedule import first_fire, next_fire
from scheduler.store import TaskStore

log = logging.getLogger("clawbus.scheduler")


class ControlHandler:
    """Entries of control lanes: create, update, pause, resume, cancel."""

    def __init__(self, store: TaskStore, tz: str) -> None:
        self.store = store
        self.tz = tz

    async def __call__(self, lane: ClaimedLane, entry: Entry) -> list[Emit]:
        assert entry.envelope is not None
        try:
            cmd = TaskCommand.model_validate(entry.envelope.payload)
        except ValidationError as exc:
            raise PermanentError(f"not a task command: {exc.error_count()} errors") from exc
        try:
            await self.apply(cmd)
        except ScheduleError as exc:
            raise PermanentError(str(exc)) from exc
        return []

    async def apply(self, cmd: TaskCommand) -> Task | None:
        now = now_ms()
        if cmd.action == "create":
            if cmd.task is None:
                raise PermanentError("create needs a task")
            validate(cmd.task.schedule)
            task = cmd.task.model_copy(update={"status": "active", "created_ms": now})
            task.next_ms = first_fire(task, now, self.tz)
            await self.store.save(task)
            return task
        task_id = cmd.task_id or (cmd.task.id if cmd.task else None)
        existing = await self.store.get(task_id) if task_id else None
        if existing is None:
            raise PermanentError(f"no task {task_id!r}")
        task = existing.model_copy()
        if cmd.action == "update":
            if cmd.prompt is not None:
                task.prompt = cmd.prompt
            if cmd.schedule is not None:
                validate(cmd.schedule)
                task.schedule = cmd.schedule
            task.next_ms = first_fire(task, now, self.tz) if task.status == "active" else None
        elif cmd.action == "pause":
            task.status, task.next_ms = "paused", None
        elif cmd.action == "resume":
            task.status = "active"
            task.next_ms = first_fire(task, now, self.tz)
        elif cmd.action == "cancel":
            task.status, task.next_ms = "cancelled", None
        await self.store.save(task)
        return task


class Firer:
    def __init__(self, store: TaskStore, bus: LaneBus, tz: str, *, firing_timeout_s: float) -> None:
        self.store = store
        self.bus = bus
        self.tz = tz
        self.firing_timeout_ms = int(firing_timeout_s * 1000)

    async def run(self, stop: asyncio.Event, tick_s: float) -> None:
        while not stop.is_set():
            try:
                fired = await self.tick()
                metrics.TASKS_ACTIVE.set(await self.store.scheduled())
                metrics.REDIS_UP.set(1)
            except (RedisError, OSError) as exc:
                metrics.REDIS_UP.set(0)
                log.warning("scheduler tick failed", extra={"error": str(exc)})
                fired = 0
            if fired == 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=tick_s)

    async def tick(self) -> int:
        claimed = await self.store.claim_due(100, self.firing_timeout_ms)
        for task_id, occurrence in claimed:
            await self.fire(task_id, occurrence)
        return len(claimed)

    async def fire(self, task_id: str, occurrence: int) -> None:
        task = await self.store.get(task_id)
        if task is None or task.status != "active":
            await self.store.fired(None, task_id, occurrence)
            return
        payload = AgentInput(
            kind="task",
            agent=task.agent,
            session=task.session,
            reply_to=task.destination,
            text=task.prompt,
            task_id=task.id,
        )
        env = Envelope(
            id=derive_id("task", task.id, str(occurrence)),
            kind="agent_input",
            trace_id=new_trace_id(),
            accepted_ms=now_ms(),
            payload=payload_of(payload),
        )
        [dup] = await self.bus.publish(Stage.AGENT, [(task.session, env)])
        if not dup:
            metrics.TASKS_FIRED.labels(task.schedule.kind).inc()
        log.info(
            "task fired",
            extra={
                "task_id": task.id,
                "occurrence_ms": occurrence,
                "duplicate": dup,
                "trace_id": env.trace_id,
            },
        )
        task.next_ms = next_fire(task.schedule, occurrence, self.tz)
        now = now_ms()
        if task.next_ms is not None and task.next_ms <= now:
            # occurrences missed while no scheduler ran: this firing stands for them, and the
            # schedule resumes after now instead of firing each one in turn
            task.next_ms = next_fire(task.schedule, now, self.tz)
        if task.next_ms is None:
            task.status = "done"
        await self.store.fired(task, task_id, occurrence)
