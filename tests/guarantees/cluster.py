"""Real clawbus service processes on loopback, a webhook sink standing in for a platform,
and a sender that retries the way a platform does (same message id, after Retry-After)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from clawbus.embedded import free_port
from delivery.channels.webhook import verify
from tests.support import DEFAULT_CONFIG_FILE
from tests.support.processes import ServiceProcess

SECRET = "sink-secret"
TOKEN = "ingest-token"
LABEL = re.compile(r"^\[echo provider[^\]]*\]\s*")


@dataclass
class Delivery:
    delivery_id: str
    conversation: str
    text: str
    possible_duplicate: bool

    @property
    def echoed(self) -> list[str]:
        return [t for t in LABEL.sub("", self.text).split("\n") if t]


class Sink:
    """An HTTP receiver for clawbus's signed webhook; ``behaviour`` may answer non-2xx."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Delivery] = []
        self.attempts: list[str] = []  # text of every signed request, answered or not
        self.behaviour: Callable[[dict[str, Any]], int] = lambda _: 200
        self.bad_signatures = 0
        self.changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(
            SECRET,
            request.headers.get("x-clawbus-timestamp", ""),
            body,
            request.headers.get("x-clawbus-signature", ""),
        ):
            self.bad_signatures += 1
            return web.Response(status=401)
        data = json.loads(body)
        if data.get("action") != "send":  # typing indicators and the like
            return web.Response(status=200)
        self.attempts.append(data["text"])
        self.changed.set()
        status = self.behaviour(data)
        if status == 200:
            self.received.append(
                Delivery(
                    data["id"], data["conversation_id"], data["text"], data["possible_duplicate"]
                )
            )
            self.changed.set()
        headers = {"Retry-After": "1"} if status == 429 else None
        return web.Response(status=status, headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def by_conversation(self) -> dict[str, list[Delivery]]:
        out: dict[str, list[Delivery]] = defaultdict(list)
        for d in self.received:
            out[d.conversation].append(d)
        return out

    def echoed_texts(self) -> list[str]:
        return [t for d in self.received for t in d.echoed]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the expected deliveries did not arrive")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.5))


class Cluster:
    def __init__(
        self, tmp: Path, redis_url: str, namespace: str, sink: Sink, **overrides: str
    ) -> None:
        self.tmp = tmp
        self.sink = sink
        self.env = {
            **os.environ,
            "CLAWBUS_REDIS_URL": redis_url,
            "CLAWBUS_NAMESPACE": namespace,
            "CLAWBUS_CONFIG_PATH": DEFAULT_CONFIG_FILE,
            "CLAWBUS_INGEST_TOKEN": TOKEN,
            "CLAWBUS_WEBHOOK_URL": sink.url,
            "CLAWBUS_WEBHOOK_SECRET": SECRET,
            "CLAWBUS_LOG_JSON": "true",
            # several partitions, as on a Redis Cluster: claims across partitions under test
            "CLAWBUS_PARTITIONS": "4",
            "CLAWBUS_LEASE_TTL_S": "2",
            "CLAWBUS_POLL_INTERVAL_S": "0.05",
            "CLAWBUS_RETRY_BASE_S": "0.1",
            "CLAWBUS_RETRY_MAX_S": "1",
            "CLAWBUS_DRAIN_GRACE_S": "5",
            "CLAWBUS_LLM_PROVIDER": "echo",
            **overrides,
        }
        self.procs: dict[str, list[ServiceProcess]] = defaultdict(list)
        self._n = 0

    def add(self, name: str, **env: str) -> ServiceProcess:
        self._n += 1
        proc = ServiceProcess(
            name, {**self.env, **env}, log_path=self.tmp / f"{name}-{self._n}.log"
        )
        self.procs[name].append(proc.start())
        return proc

    async def start(self, **counts: int) -> None:
        for name, n in counts.items():
            for _ in range(n):
                self.add(name)
        await self.ready()

    async def ready(self) -> None:
        await asyncio.gather(
            *(
                p.wait_ready_async(60)
                for ps in self.procs.values()
                for p in ps
                if p.popen and p.popen.poll() is None
            )
        )

    async def restart(self, proc: ServiceProcess) -> None:
        proc.kill()
        proc.start()
        await proc.wait_ready_async(60)

    def stop(self) -> None:
        for ps in self.procs.values():
            for p in ps:
                p.kill()

    @property
    def ingest(self) -> str:
        return f"http://127.0.0.1:{self.procs['ingest'][0].port}"

    def logs(self, name: str) -> list[dict[str, Any]]:
        return [line for p in self.procs[name] for line in p.logs()]


async def send(
    client: httpx.AsyncClient,
    base: str,
    conversation: str,
    text: str,
    message_id: str,
    *,
    deadline_s: float = 60,
) -> httpx.Response:
    """POST a message like a platform would: the same id again after 429/503/errors."""
    body = {
        "conversation_id": conversation,
        "sender": {"id": "u1"},
        "text": text,
        "message_id": message_id,
    }
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            r = await client.post(
                f"{base}/v1/messages",
                json=body,
                headers={"authorization": f"Bearer {TOKEN}"},
                timeout=5,
            )
            if r.status_code == 202:
                return r
            wait = float(r.headers.get("retry-after", "0.2"))
            if r.status_code not in (429, 503) or time.monotonic() > deadline:
                return r
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            wait = 0.2
        await asyncio.sleep(min(wait, 1.0))


def run_intervals(worker_logs: list[dict[str, Any]]) -> dict[str, list[tuple[int, int]]]:
    """Per session, the (start, end) wall-clock ns of each agent run, from worker logs."""
    open_runs: dict[tuple[str, Any], int] = {}
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for line in sorted(worker_logs, key=lambda x: x.get("ts_ns", 0)):
        key = (line.get("session"), line.get("pid"))
        if line.get("event") == "run started":
            open_runs[key] = line["ts_ns"]
        elif line.get("event") == "run finished" and key in open_runs:
            out[str(key[0])].append((open_runs.pop(key), line["ts_ns"]))
    return out


def cli(env: dict[str, str], *args: str) -> str:
    """Run ``clawbus ARGS`` as the operator would; its output, or the test fails with it."""
    done = subprocess.run(
        [sys.executable, "-m", "clawbus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
