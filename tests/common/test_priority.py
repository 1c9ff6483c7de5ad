"""A service takes its CPU niceness at start: the router yields the cores to the stages after
it by default, the others do not, a setting changes it, and none raises its priority."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clawbus.embedded import EmbeddedRedis
from common import lifecycle
from tests.support import DEFAULT_CONFIG_FILE
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.slow

BASE = os.getpriority(os.PRIO_PROCESS, 0)  # what a child starts with


def yielded(nice: int, started_at: int) -> tuple[int, int]:
    """What ``yield_cpu(nice)`` returns in a process started at ``started_at``, and the
    niceness the process then has."""
    code = (
        "import os; from common.lifecycle import yield_cpu; "
        f"print(yield_cpu({nice}), os.getpriority(os.PRIO_PROCESS, 0))"
    )
    out = subprocess.run(
        ["nice", "-n", str(started_at - BASE), sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.skipif(BASE > 5, reason="the tests run too nice to start a child nicer")
def test_yield_cpu_lowers_the_priority_and_never_raises_it():
    assert yielded(7, BASE) == (max(7, BASE), max(7, BASE))
    assert yielded(7, 12) == (12, 12)  # started nicer: stays so
    assert yielded(0, BASE) == (BASE, BASE)


def test_a_sandbox_that_forbids_it_leaves_the_service_as_started(monkeypatch, caplog):
    def refuse(*_: object) -> None:
        raise PermissionError("operation not permitted")

    monkeypatch.setattr(os, "setpriority", refuse)
    assert lifecycle.yield_cpu(BASE + 5) == BASE
    assert "could not lower the CPU priority" in caplog.text
    monkeypatch.delattr(os, "setpriority")  # not a Unix
    assert lifecycle.yield_cpu(BASE + 5) == 0


async def test_the_router_yields_by_default_and_a_setting_changes_it(
    tmp_path: Path, redis_server: EmbeddedRedis, namespace: str
):
    env = {
        **{k: v for k, v in os.environ.items() if k != "CLAWBUS_NICE"},
        "CLAWBUS_REDIS_URL": redis_server.url,
        "CLAWBUS_NAMESPACE": namespace,
        "CLAWBUS_CONFIG_PATH": DEFAULT_CONFIG_FILE,
        "CLAWBUS_LLM_PROVIDER": "echo",
    }
    procs = {
        "router": ServiceProcess("router", env),
        "worker": ServiceProcess("worker", env),
        "router-set": ServiceProcess("router", {**env, "CLAWBUS_NICE": "3"}),
        "delivery-set": ServiceProcess("delivery", {**env, "CLAWBUS_NICE": "4"}),
    }
    try:
        for proc in procs.values():
            proc.start()
        await asyncio.gather(*(p.wait_ready_async(60) for p in procs.values()))
        got = {
            name: os.getpriority(os.PRIO_PROCESS, p.popen.pid)
            for name, p in procs.items()
            if p.popen is not None
        }
    finally:
        for proc in procs.values():
            proc.terminate(15)
    assert got == {
        "router": max(10, BASE),
        "worker": BASE,
        "router-set": max(3, BASE),
        "delivery-set": max(4, BASE),
    }
