"""``clawbus up``: the whole system on one machine, for trying it out and developing.

Starts a private Redis (unless CLAWBUS_REDIS_URL is set), the five services as separate
processes, restarts any that dies, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from clawbus.embedded import EmbeddedRedis
from common.config import ConfigError, load_config

SERVICES = ("ingest", "router", "worker", "delivery", "scheduler")
PORTS = {"ingest": 8080, "router": 9101, "worker": 9102, "delivery": 9103, "scheduler": 9104}


def secret_file(data_dir: Path, name: str) -> str:
    path = data_dir / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Child:
    name: str
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started: float = field(default=0.0)

    def start(self) -> None:
        # A session of its own: Ctrl-C reaches `up` alone, which then asks each child to
        # drain with one SIGTERM (a second signal would cut the drain short).
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.name], env=self.env, start_new_session=True
        )
        self.started = time.monotonic()


def run_up(data_dir: Path, host: str, port: int) -> int:
    env = dict(os.environ)
    if Path("clawbus.yaml").exists():
        env.setdefault("CLAWBUS_CONFIG_PATH", str(Path("clawbus.yaml").resolve()))
    # a config the services would refuse stops here, once, not in five restart loops
    named = env.get("CLAWBUS_CONFIG_PATH")
    try:
        load_config(Path(named) if named else None, required=bool(named))
    except ConfigError as exc:
        print(f"clawbus up: {exc}", file=sys.stderr, flush=True)
        return 2
    data_dir.mkdir(parents=True, exist_ok=True)
    redis: EmbeddedRedis | None = None
    if not env.get("CLAWBUS_REDIS_URL"):
        redis = EmbeddedRedis(data_dir / "redis")
        redis.start()
        env["CLAWBUS_REDIS_URL"] = redis.url
        (data_dir / "redis-url").write_text(redis.url)
        print(f"redis: embedded at {redis.url} (AOF in {data_dir / 'redis'})", flush=True)
    env.setdefault("CLAWBUS_INGEST_TOKEN", secret_file(data_dir, "ingest-token"))
    env.setdefault("CLAWBUS_WEBCHAT_TOKEN", secret_file(data_dir, "webchat-token"))
    env.setdefault("CLAWBUS_LOG_JSON", "false")
    children = []
    for name in SERVICES:
        child_env = dict(env)
        child_env["CLAWBUS_HTTP_HOST"] = host if name == "ingest" else "127.0.0.1"
        child_env["CLAWBUS_HTTP_PORT"] = str(port if name == "ingest" else PORTS[name])
        children.append(Child(name, child_env))
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for child in children:
        child.start()
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    token = env["CLAWBUS_WEBCHAT_TOKEN"]
    print(f"web chat: http://{shown}:{port}/?token={token}", flush=True)
    print(
        f"HTTP API: POST http://{shown}:{port}/v1/messages "
        f"(Authorization: Bearer <{data_dir / 'ingest-token'}>); its replies go to "
        + (
            "CLAWBUS_WEBHOOK_URL"
            if env.get("CLAWBUS_WEBHOOK_URL")
            else "the dead letters until CLAWBUS_WEBHOOK_URL is set (clawbus dlq list)"
        ),
        flush=True,
    )
    provider = "anthropic" if env.get("ANTHROPIC_API_KEY") else "echo (no ANTHROPIC_API_KEY)"
    print(f"model provider: {provider}; press Ctrl-C to stop", flush=True)
    try:
        while not stopping:
            time.sleep(0.5)
            _restart_dead(children)
    finally:
        _stop(children, redis)
    return 0


def _restart_dead(children: list[Child]) -> None:
    for child in children:
        if child.proc is not None and child.proc.poll() is not None:
            delay = min(30.0, 2.0 ** min(child.restarts, 5))  # a float's exponent runs out
            if time.monotonic() - child.started > delay:
                print(f"{child.name} exited ({child.proc.returncode}); restarting", flush=True)
                child.restarts += 1
                child.start()


def _stop(children: list[Child], redis: EmbeddedRedis | None) -> None:
    for child in children:
        if child.proc and child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children:
        if child.proc:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
    if redis is not None:
        redis.stop()
    print("stopped", flush=True)
