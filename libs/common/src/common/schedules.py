"""What makes a task's schedule one that can fire: one rule for the scheduler that keeps
tasks, the agents' task tool and the operator's command that make them."""

from __future__ import annotations

from croniter import croniter

from common.messages import TaskSchedule


class ScheduleError(ValueError):
    """A schedule that can never fire (bad cron, missing time, non-positive interval)."""


def validate(schedule: TaskSchedule) -> None:
    if schedule.kind == "once" and schedule.at_ms is None:
        raise ScheduleError("a one-shot task needs at_ms")
    if schedule.kind == "cron" and not (schedule.cron and croniter.is_valid(schedule.cron)):
        raise ScheduleError(f"invalid cron expression {schedule.cron!r}")
    if schedule.kind == "interval" and not (schedule.every_s and schedule.every_s > 0):
        raise ScheduleError("an interval task needs every_s > 0")
