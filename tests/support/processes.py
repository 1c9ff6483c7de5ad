"""One clawbus service as a real subprocess: start, wait for ``/readyz``, kill or stop.

    proc = ServiceProcess("ingest", env).start()
    proc.wait_ready(30)          # or: await proc.wait_ready_async(30)
    ... http://127.0.0.1:{proc.port} ...
    proc.terminate()             # SIGTERM and wait; proc.kill() is SIGKILL

``env`` is the whole environment of the child (``CLAWBUS_HTTP_PORT`` is set to ``port``).
Output goes to ``log_path`` (a temporary file unless given); ``logs()`` reads it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from clawbus.embedded import free_port


class ServiceProcess:
    def __init__(
        self,
        name: str,
        env: dict[str, str],
        *,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.name = name
        self.env = dict(env)
        self.port = port or int(self.env.get("CLAWBUS_HTTP_PORT") or 0) or free_port()
        if log_path is None:
            fd, raw = tempfile.mkstemp(prefix=f"clawbus-{name}-", suffix=".log")
            os.close(fd)
            log_path = Path(raw)
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        env = {**self.env, "CLAWBUS_HTTP_PORT": str(self.port)}
        env.setdefault("CLAWBUS_HTTP_HOST", "127.0.0.1")
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", self.name], env=env, stdout=log, stderr=log
            )
        return self

    def _check(self) -> bool:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 30) -> ServiceProcess:
        """Block until ``/readyz`` answers 200; raise with the log tail if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._check():
                return self
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    async def wait_ready_async(self, timeout: float = 30) -> ServiceProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await asyncio.to_thread(self._check):
                return self
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()

    def terminate(self, timeout: float = 30) -> int | None:
        """SIGTERM, then wait (SIGKILL after ``timeout``); returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.popen.returncode

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (with ``CLAWBUS_LOG_JSON=true``)."""
        out = []
        for line in self.tail(10_000_000).splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    out.append(json.loads(line))
        return out
