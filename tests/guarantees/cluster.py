"""Real clawbus service processes on loopback, a webhook sink standing in for a platform,
and a sender that retries the way a platform does (same message id, after Retry-After)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from clawbus.embedded import free_port
from delivery.channels.webhook import verify

SECRET = "sink-secret"
TOKEN = "ingest-token"
LABEL = re.compile(r"^\[echo provider[^\]]*\]\s*")


@dataclass
class Proc:
    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        env = {**self.env, "CLAWBUS_HTTP_PORT": str(self.port)}
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", self.name], env=env, stdout=log, stderr=log
        )
        return self

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.popen is not None
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
                try:
                    r = await client.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def terminate(self, timeout: float = 30) -> int:
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=timeout)

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out


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
            "CLAWBUS_CONFIG_PATH": str(tmp / "none.yaml"),
            "CLAWBUS_INGEST_TOKEN": TOKEN,
            "CLAWBUS_WEBHOOK_URL": sink.url,
            "CLAWBUS_WEBHOOK_SECRET": SECRET,
            "CLAWBUS_LOG_JSON": "true",
            "CLAWBUS_LEASE_TTL_S": "2",
            "CLAWBUS_POLL_INTERVAL_S": "0.05",
            "CLAWBUS_RETRY_BASE_S": "0.1",
            "CLAWBUS_RETRY_MAX_S": "1",
            "CLAWBUS_DRAIN_GRACE_S": "5",
            "CLAWBUS_LLM_PROVIDER": "echo",
            **overrides,
        }
        self.procs: dict[str, list[Proc]] = defaultdict(list)
        self._n = 0

    def add(self, name: str, **env: str) -> Proc:
        self._n += 1
        proc = Proc(name, {**self.env, **env}, self.tmp / f"{name}-{self._n}.log")
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
                p.wait_ready()
                for ps in self.procs.values()
                for p in ps
                if p.popen and p.popen.poll() is None
            )
        )

    async def restart(self, proc: Proc) -> None:
        proc.kill()
        proc.start()
        await proc.wait_ready()

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
