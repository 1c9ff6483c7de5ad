# mypy: allow-untyped-defs, allow-incomplete-defs, allow-untyped-calls
"""The operator's commands against a real Redis: what `lanes` and `dlq` show and do."""

from __future__ import annotations

import asyncio
import os

import pytest

from clawbus.__main__ import main as clawbus
from clawbus.embedded import free_port
from clawbus.up import Child, _restart_dead
from common.bus import LaneBus
from common.envelope import Envelope, decode, now_ms
from common.keys import Stage


def envelope(i: int) -> Envelope:
    return Envelope(f"m{i}", "inbound", f"t{i}", now_ms(), {"text": f"hello {i}"})


@pytest.fixture
def cli(redis_server, namespace, monkeypatch, capsys):
    monkeypatch.setenv("CLAWBUS_REDIS_URL", redis_server.url)
    monkeypatch.setenv("CLAWBUS_NAMESPACE", namespace)
    monkeypatch.setenv("CLAWBUS_PARTITIONS", "4")  # as the bus fixture's keys

    async def run(*argv: str) -> tuple[int, str]:
        code = await asyncio.to_thread(clawbus, list(argv))
        return code, capsys.readouterr().out

    return run


async def test_lanes_shows_backlog_holders_and_oldest_age(cli, bus: LaneBus):
    await bus.publish(Stage.ROUTE, [("web:a", envelope(1)), ("web:a", envelope(2))])
    await bus.publish(Stage.ROUTE, [("web:b", envelope(3))])
    [held] = await bus.claim(Stage.ROUTE, 1, 10)
    await asyncio.sleep(1.1)
    code, out = await cli("lanes")
    assert code == 0
    route = out.splitlines()[0]
    assert route.startswith("route") and "backlog=3" in route and "active=1" in route
    assert "ready=1" in route
    age = float(route.split("oldest=")[1].rstrip("s"))
    assert 1.0 <= age < 30
    rows = {
        line.split(": ", 1)[0].strip(): line for line in out.splitlines() if line.startswith("  ")
    }
    assert set(rows) == {"web:a", "web:b"}
    assert "2 entries" in rows["web:a"] and "1 entry," in rows["web:b"]
    assert f"held (token {held.token})" in rows[held.lane]
    other = ({"web:a", "web:b"} - {held.lane}).pop()
    assert "held" not in rows[other]


async def test_dlq_lists_with_the_error_and_replays_one_by_reference(cli, bus: LaneBus):
    await bus.publish(Stage.DELIVER, [("http:c", envelope(1)), ("http:d", envelope(2))])
    for lane in await bus.claim(Stage.DELIVER, 10, 10):
        await bus.fail(lane, [e.id for e in lane.entries], "boom: gone", delay_s=0, dead=True)
    code, out = await cli("dlq", "list")
    assert code == 0 and out.count("error: boom: gone") == 2
    letters = await bus.dead_letters(Stage.DELIVER)
    first = letters[0]
    assert f"{first.partition}:{first.id}" in out
    code, out = await cli("dlq", "replay", "deliver", "0:0-0")
    assert code == 1 and "no dead letter 0:0-0 in stage deliver" in out
    code, out = await cli("dlq", "replay", "deliver", f"{first.partition}:{first.id}")
    assert code == 0 and f"into deliver lane {first.lane}" in out
    [back] = await bus.claim(Stage.DELIVER, 10, 10)
    assert back.lane == first.lane and len(back.entries) == 1
    assert len(await bus.dead_letters(Stage.DELIVER)) == 1


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (["--cron", "every tuesday"], "invalid cron expression 'every tuesday'"),
        (["--every", "0"], "an interval task needs every_s > 0"),
        (["--every", "-5"], "an interval task needs every_s > 0"),
    ],
)
async def test_a_task_that_could_never_fire_is_refused_before_it_is_sent(
    cli, bus: LaneBus, when, reason
):
    code, out = await cli("task", "add", "check in", *when)
    assert code == 2 and f"not scheduled: {reason}" in out
    assert (await bus.stats(Stage.CONTROL)).backlog == 0


async def test_a_task_is_sent_to_the_scheduler(cli, bus: LaneBus):
    code, out = await cli("task", "add", "check in", "--cron", "0 9 * * 1-5")
    assert code == 0 and "scheduled (cron)" in out
    [lane] = await bus.claim(Stage.CONTROL, 10, 10)
    command = decode(lane.entries[0].raw).payload
    assert command["action"] == "create"
    assert command["task"]["schedule"] == {
        "kind": "cron",
        "at_ms": None,
        "cron": "0 9 * * 1-5",
        "every_s": None,
    }


@pytest.mark.parametrize("argv", [["lanes"], ["dlq", "list"], ["send", "hi", "--wait", "1"]])
async def test_a_redis_that_is_not_there_is_said_so_plainly(cli, monkeypatch, capsys, argv):
    monkeypatch.setenv("CLAWBUS_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    code = await asyncio.to_thread(clawbus, argv)
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("clawbus: Redis unreachable (") and "Traceback" not in err


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (None, "does not exist (CLAWBUS_CONFIG_PATH names it)"),
        ("wiring: [{agent: nobody, chat: web}]\n", "wiring names unknown agent 'nobody'"),
    ],
)
def test_up_refuses_a_config_the_services_would_refuse_before_starting_anything(
    tmp_path, monkeypatch, capsys, config, reason
):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "clawbus.yaml"
    if config is not None:
        path.write_text("agents: {bot: {}}\nchats: {web: {channel: web}}\n" + config)
    monkeypatch.setenv("CLAWBUS_CONFIG_PATH", str(path))
    monkeypatch.delenv("CLAWBUS_REDIS_URL", raising=False)
    assert clawbus(["up", "--data-dir", str(tmp_path / "data")]) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # no Redis, no service started


def test_up_keeps_restarting_a_service_that_keeps_dying():
    child = Child("clawbus_no_such_service", dict(os.environ), restarts=5_000)
    child.start()
    assert child.proc is not None
    child.proc.wait(10)
    child.started -= 60  # its last start was long enough ago
    _restart_dead([child])  # after thousands of restarts, the wait is still half a minute
    assert child.restarts == 5_001
    assert child.proc.wait(10) != 0


async def test_migrate_keys_carries_an_install_over_from_the_earlier_layout(
    cli, bus: LaneBus, redis, namespace
):
    ns, lane = namespace, "assistant|web:c1"
    part = bus.keys.partition_of(lane)
    old = f"{ns}:{{{ns}.agent.{part}}}"  # the earlier layout: a tag per lane partition
    stream = f"{old}:l:{lane}"
    await redis.xgroup_create(stream, "g", id="$", mkstream=True)
    await redis.xadd(stream, {"e": envelope(1).encode()})
    await redis.zadd(f"{old}:ready", {lane: 1})
    await redis.zadd(f"{old}:oldest", {lane: 1})
    await redis.set(f"{old}:backlog", 1)
    await redis.rpush(f"{ns}:history:{lane}", "a", "b")
    await redis.set(f"{ns}:memory:assistant", "remember the milk", ex=3600)
    await redis.set(f"{{{ns}}}:memory:other", "kept")
    await redis.set(f"{ns}:memory:other", "old copy")  # its new name is taken already

    code, out = await cli("migrate-keys", "--dry-run")
    assert code == 0 and f"{ns}:history:{lane} -> {{{ns}}}:history:{lane}" in out
    assert await redis.exists(stream)
    code, out = await cli("migrate-keys")
    assert code == 1  # one key could not move
    assert f"moved 6 keys of namespace '{ns}', 1 kept" in out
    assert f"kept {ns}:memory:other" in out

    # what was queued is claimed under the new names, entry and consumer group intact
    [claimed] = await bus.claim(Stage.AGENT, 10, 10)
    assert claimed.lane == lane and [e.envelope.id for e in claimed.entries] == ["m1"]
    assert await redis.lrange(bus.keys.history(lane), 0, -1) == [b"a", b"b"]
    assert await redis.get(bus.keys.memory("assistant")) == b"remember the milk"
    assert 0 < await redis.ttl(bus.keys.memory("assistant")) <= 3600
    assert await redis.get(bus.keys.memory("other")) == b"kept"
    left = [k async for k in redis.scan_iter(match=f"{ns}:*")]
    assert left == [f"{ns}:memory:other".encode()]
