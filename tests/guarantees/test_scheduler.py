"""The scheduler: each occurrence fires exactly once with two replicas, even when one
dies mid-fire; paused and cancelled tasks stay quiet."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from redis.asyncio import Redis

from common.bus import LaneBus
from common.envelope import Envelope, derive_id, new_trace_id, now_ms
from common.keys import Keys, Stage
from common.messages import Destination, Task, TaskCommand, TaskSchedule
from scheduler.firing import Firer
from scheduler.store import TaskStore

pytestmark = pytest.mark.slow


async def command(bus: LaneBus, cmd: TaskCommand) -> None:
    env = Envelope(
        id=derive_id("cmd", new_trace_id()),
        kind="task_command",
        trace_id=new_trace_id(),
        accepted_ms=now_ms(),
        payload=cmd.model_dump(mode="json"),
    )
    await bus.publish(Stage.CONTROL, [("assistant", env)])


def task(task_id: str, schedule: TaskSchedule) -> Task:
    dest = Destination(channel="http", chat_id=f"task-{task_id}")
    return Task(
        id=task_id,
        agent="assistant",
        session=f"assistant|{dest.lane}",
        destination=dest,
        prompt=f"run {task_id}",
        schedule=schedule,
    )


async def test_two_schedulers_fire_each_occurrence_once(
    make_cluster, sink, redis_server, namespace
):
    cluster = make_cluster()
    await cluster.start(ingest=1, router=1, worker=1, delivery=1, scheduler=2)
    redis = Redis.from_url(redis_server.url)
    bus = LaneBus(redis, Keys(namespace, 4))
    soon = now_ms() + 1500
    for i in range(6):
        await command(
            bus,
            TaskCommand(
                action="create", task=task(f"once{i}", TaskSchedule(kind="once", at_ms=soon))
            ),
        )
    await command(
        bus,
        TaskCommand(
            action="create", task=task("every", TaskSchedule(kind="interval", every_s=1.0))
        ),
    )
    await command(
        bus,
        TaskCommand(action="create", task=task("paused", TaskSchedule(kind="once", at_ms=soon))),
    )
    await command(bus, TaskCommand(action="pause", task_id="paused"))
    await sink.wait_for(
        lambda: len([d for d in sink.received if "once" in d.conversation]) >= 6, timeout=30
    )
    await asyncio.sleep(3.5)
    # one dies with occurrences possibly claimed but not yet published
    cluster.procs["scheduler"][0].kill()
    await asyncio.sleep(2.5)
    await command(bus, TaskCommand(action="cancel", task_id="every"))
    await asyncio.sleep(1.5)
    fired = Counter(d.conversation for d in sink.received)
    for i in range(6):
        assert fired[f"task-once{i}"] == 1
    assert "task-paused" not in fired
    interval_texts = [d.text for d in sink.received if d.conversation == "task-every"]
    assert 4 <= len(interval_texts) <= 9  # ~1 per second for ~7 s, never doubled
    stopped = len(interval_texts)
    await asyncio.sleep(2)
    assert len([d for d in sink.received if d.conversation == "task-every"]) == stopped
    fired_ids = [d.delivery_id for d in sink.received]
    assert len(fired_ids) == len(set(fired_ids))
    await redis.aclose()


async def test_occurrences_missed_while_no_scheduler_ran_fire_once_not_one_by_one(
    redis: Redis, keys: Keys, bus: LaneBus
):
    store = TaskStore(redis, keys)
    day = 24 * 3600 * 1000
    every_minute = task("minutely", TaskSchedule(kind="interval", every_s=60))
    every_minute.next_ms = now_ms() - day  # the scheduler was down for a day
    hourly = task("hourly", TaskSchedule(kind="cron", cron="0 * * * *"))
    hourly.next_ms = now_ms() - day
    for t in (every_minute, hourly):
        await store.save(t)
    firer = Firer(store, bus, "UTC", firing_timeout_s=30)
    for _ in range(50):  # as the run loop does: again at once while occurrences come
        if await firer.tick() == 0:
            break
    fired = Counter(
        {lane.lane: len(lane.entries) for lane in await bus.claim(Stage.AGENT, 10, 500)}
    )
    assert fired == Counter({every_minute.session: 1, hourly.session: 1})
    now = now_ms()
    minutely, on_the_hour = await store.get("minutely"), await store.get("hourly")
    assert minutely is not None and on_the_hour is not None
    assert now < (minutely.next_ms or 0) <= now + 60_000
    assert now < (on_the_hour.next_ms or 0) <= now + 3_600_000


async def test_an_interval_task_on_time_keeps_its_own_clock(redis: Redis, keys: Keys, bus: LaneBus):
    store = TaskStore(redis, keys)
    every = task("steady", TaskSchedule(kind="interval", every_s=60))
    every.next_ms = now_ms() - 300  # due a moment ago: the tick came a little late
    await store.save(every)
    due = every.next_ms
    assert await Firer(store, bus, "UTC", firing_timeout_s=30).tick() == 1
    steady = await store.get("steady")
    assert steady is not None and steady.next_ms == due + 60_000  # no drift from the lag
