"""When a task fires next: one-shot, cron (in the install's timezone) or interval."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from common.messages import Task, TaskSchedule


def next_fire(schedule: TaskSchedule, after_ms: int, tz: str) -> int | None:
    """The first occurrence strictly after ``after_ms`` (None: no more occurrences)."""
    if schedule.kind == "once":
        return schedule.at_ms if schedule.at_ms is not None and schedule.at_ms > after_ms else None
    if schedule.kind == "interval":
        assert schedule.every_s is not None
        return after_ms + int(schedule.every_s * 1000)
    start = datetime.fromtimestamp(after_ms / 1000, ZoneInfo(tz))
    nxt = croniter(schedule.cron, start).get_next(datetime)
    return int(nxt.timestamp() * 1000)


def first_fire(task: Task, now_ms: int, tz: str) -> int | None:
    if task.schedule.kind == "once":
        return task.schedule.at_ms
    return next_fire(task.schedule, now_ms, tz)
