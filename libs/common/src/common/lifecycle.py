"""How every clawbus process lives and dies.

1. SIGTERM or SIGINT sets ``stop``; readiness turns 503 at once. A second signal cancels.
2. The service body sees ``stop``, stops taking work, finishes or hands back in-flight
   work within the drain grace period, and returns.
3. The HTTP server (``/healthz``, ``/readyz``, ``/metrics``) closes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from common import metrics

log = logging.getLogger("clawbus.lifecycle")

ReadyCheck = Callable[[], Awaitable[str | None]]  # None when ready, else the reason


@dataclass
class Health:
    """What ``/readyz`` asks: every check must pass and the process must not be stopping."""

    checks: list[ReadyCheck] = field(default_factory=list)
    degraded: list[ReadyCheck] = field(default_factory=list)
    stopping: bool = False

    async def notes(self) -> list[str]:
        """Problems that do not make the process unready (e.g. one channel misconfigured)."""
        return await self._run(self.degraded)

    async def problems(self) -> list[str]:
        if self.stopping:
            return ["shutting down"]
        return await self._run(self.checks)

    @staticmethod
    async def _run(checks: list[ReadyCheck]) -> list[str]:
        out = []
        for check in checks:
            try:
                problem = await asyncio.wait_for(check(), timeout=2)
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                out.append(problem)
        return out


def add_health_routes(app: FastAPI, health: Health) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(response: Response) -> dict[str, object]:
        problems = await health.problems()
        notes = await health.notes()
        if problems:
            response.status_code = 503
            return {"status": "unready", "problems": problems, "degraded": notes}
        return {"status": "degraded" if notes else "ready", "degraded": notes}

    @app.get("/metrics", include_in_schema=False)
    async def prom() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # signals belong to run_service


# A service allocates short-lived objects by the million (envelopes, models, replies) and
# keeps long-lived ones (modules, schemas, caches). With the default threshold of 700 the
# collector ran thousands of times a second and walked the long-lived ones again and again:
# a fifth of the worker's time under load. Young collections are now 70x rarer, and what
# exists at start-up is frozen out of every collection.
GC_THRESHOLDS = (50_000, 20, 100)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a service's ``main`` on uvloop (faster I/O; installed with uvicorn[standard])."""
    import uvloop

    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        uvloop.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        log.warning("stopped without draining (second signal)")
        raise SystemExit(130) from None


def yield_cpu(nice: int) -> int:
    """Lower this process's CPU priority to ``nice`` (never raise it: a process started
    nicer stays so); returns the niceness it runs at. On Linux a niceness is a thread's:
    the caller's, and that of the threads it starts afterwards; a service's event loop,
    which does its work, runs in the caller's.

    The stages share a host's cores when they run as processes side by side (``clawbus
    up``, one machine). Under a backlog a stage that takes lanes as soon as they are ready
    takes them with an entry or two each, and every lane costs its claim, its task, its
    commit and its Redis bookkeeping whatever it carries; a stage that yields the cores to
    the stages after it finds its lanes fuller when it comes back, so the same messages
    cost fewer lanes at every stage after it too. With the router at 10 a backlog drains
    with a tenth to two fifths less CPU per message, its lanes and the agent lanes carrying
    about twice the entries (``bench/FINDINGS.md``); with idle cores the niceness changes
    nothing. Containers have a cgroup each, where niceness weighs only against the
    container's own processes: there the CPU weights (Compose ``cpu_shares``, Kubernetes
    CPU requests) do the same.
    """
    if not hasattr(os, "setpriority"):  # not a Unix: nothing to lower
        return 0
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError as exc:  # a sandbox that forbids it: run as started
            log.warning("could not lower the CPU priority", extra={"error": str(exc)})
            return current
        return nice
    return current


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def run_service(
    name: str,
    body: Callable[[asyncio.Event, Health], Awaitable[None]],
    *,
    host: str,
    port: int,
    app: FastAPI | None = None,
    version: str = "0.1.0",
    nice: int = 0,
) -> None:
    """Serve HTTP and run ``body(stop, health)`` until a signal; then drain and exit,
    at the CPU priority ``nice`` (``yield_cpu``)."""
    niceness = yield_cpu(nice)
    if niceness:
        log.info("running niced", extra={"nice": niceness})
    metrics.BUILD.info({"component": name, "version": version})
    health = Health()
    app = app or FastAPI(title=f"clawbus {name}")
    add_health_routes(app, health)
    stop = asyncio.Event()
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set() and main is not None:
            main.cancel()
        health.stopping = True
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)

    sock = bind(host, port)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = _Server(config)
    http = asyncio.create_task(server.serve(sockets=[sock]), name="http")
    log.info("service started", extra={"service": name, "http_port": bound})
    try:
        await body(stop, health)
    finally:
        health.stopping = True
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(http, timeout=5)
        log.info("service stopped", extra={"service": name})
