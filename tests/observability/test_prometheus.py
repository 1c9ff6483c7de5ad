"""A real Prometheus scrapes the running services under load: every expression the
dashboards, alerts and autoscaler use evaluates, and what they read exists."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from clawbus.embedded import free_port
from tests.deploy.promql import RULES_FILE, all_exprs
from tests.fakes.anthropic import Answer, FakeAnthropic, error, reply, text, tool_use
from tests.guarantees.cluster import Cluster, send

pytestmark = pytest.mark.slow

SERVICES = ("ingest", "router", "worker", "delivery", "scheduler")


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (apt-get install prometheus)")
    return path


async def test_every_service_exposes_valid_metrics(make_cluster):
    promtool = require("promtool")
    cluster: Cluster = make_cluster()
    await cluster.start(**{s: 1 for s in SERVICES})
    async with httpx.AsyncClient() as client:
        await send(client, cluster.ingest, "m", "hello", "m:1")
        for name in SERVICES:
            text = (
                await client.get(f"http://127.0.0.1:{cluster.procs[name][0].port}/metrics")
            ).text
            assert "clawbus_build_info" in text
            check = subprocess.run(
                [promtool, "check", "metrics"],
                input=text,
                text=True,
                capture_output=True,
                check=False,
            )
            assert check.returncode == 0, f"{name}: {check.stdout}{check.stderr}"


async def query(client: httpx.AsyncClient, base: str, expr: str) -> dict:
    r = await client.get(f"{base}/api/v1/query", params={"query": expr})
    return r.json()


def model(body: dict) -> Answer:
    """Claude, as far as this test needs: a tool call on request, an error on request."""
    last = body["messages"][-1]["content"]
    said = json.dumps(last)
    if "tool_result" in said:
        return reply(text("done"))
    if "use a tool" in said:
        return reply(tool_use("list_tasks", {}))
    if "break the request" in said:
        return error(400, "bad request")
    return reply(text("hello from the model"), usage={"cache_read_input_tokens": 10})


async def test_prometheus_scrapes_and_every_expression_evaluates(
    make_cluster, sink, tmp_path: Path
):
    prometheus = require("prometheus")
    fake = FakeAnthropic()
    fake.fallback = model
    await fake.start()
    cluster: Cluster = make_cluster(
        CLAWBUS_MAX_ATTEMPTS="2",
        CLAWBUS_LLM_PROVIDER="anthropic",
        ANTHROPIC_API_KEY="test",
        CLAWBUS_ANTHROPIC_BASE_URL=fake.url,
    )
    limited = {"once": True}

    def platform(body: dict) -> int:
        if "poison" in body["text"]:
            return 500
        if limited["once"]:
            limited["once"] = False
            return 429
        return 200

    sink.behaviour = platform
    await cluster.start(**{s: 1 for s in SERVICES})
    cli = subprocess.run(
        [sys.executable, "-m", "clawbus", "task", "add", "check in", "--in", "1"],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "scheduled" in cli.stdout
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [
            {
                "job_name": f"clawbus-{name}",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{cluster.procs[name][0].port}"],
                        "labels": {"namespace": "clawbus"},
                    }
                ],
            }
            for name in SERVICES
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for i in range(20):
                await send(client, cluster.ingest, f"p{i % 5}", f"load {i}", f"p:{i}")
            await send(client, cluster.ingest, "tools", "please use a tool", "t:1")
            await send(client, cluster.ingest, "broken", "break the request", "b:1")
            await sink.wait_for(lambda: len(sink.received) >= 6, timeout=60)
            sink.behaviour = lambda body: 500 if "poison" in body["text"] else 200
            fake.fallback = lambda body: reply(text("poison"))
            await send(client, cluster.ingest, "poisoned", "anything", "poison:1")
            deadline = time.monotonic() + 90
            while True:  # until every target was scraped after the load
                targets = (await client.get(f"{base}/api/v1/targets")).json()["data"]
                up = [t for t in targets["activeTargets"] if t["health"] == "up"]
                done = await query(client, base, "sum(clawbus_dead_letters_total)")
                fired = await query(client, base, "sum(clawbus_tasks_fired_total)")
                dead, tasks = done["data"]["result"], fired["data"]["result"]
                if (
                    len(up) == len(SERVICES)
                    and dead
                    and float(dead[0]["value"][1]) >= 1
                    and tasks
                    and float(tasks[0]["value"][1]) >= 1
                ):
                    break
                assert time.monotonic() < deadline, f"targets {targets}, {done}, {fired}"
                await asyncio.sleep(1)
            await asyncio.sleep(3)
            empty, failed = [], []
            for source, expr in all_exprs():
                result = await query(client, base, expr)
                if result.get("status") != "success":
                    failed.append((source, expr, result.get("error")))
                elif not result["data"]["result"] and not source.startswith("rule"):
                    empty.append((source, expr))
            assert not failed, failed
            assert not empty, "expressions with no data: " + "\n".join(map(str, empty))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        await fake.stop()
