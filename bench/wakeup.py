"""What a wake-up costs on this machine: the CPU a process is charged for waking.

    uv run python bench/wakeup.py

The pipeline benchmark's CPU per message at a moderate rate is many times its figure at full
speed, for the bare chain as much as for clawbus. This measures why, with nothing but a
sleeping process and a Redis round trip:

- a process that sleeps and wakes, doing nothing else, for several sleep lengths;
- touching memory (one byte per 4 KiB page) right after a sleep, against the same touches
  done back to back: the cost per page that a woken process pays to get going again;
- a Redis round trip (PING on a raw socket) after a pause, against back to back: the CPU of
  the client and of Redis per round trip.

CPU time is read from ``/proc/<pid>/schedstat`` (nanoseconds on the CPU); the last line is
one JSON object.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from pathlib import Path

from clawbus.embedded import EmbeddedRedis

PAGE = 4096


def cpu_s(pid: int | str = "self") -> float:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def per_iteration_us(step, n: int) -> float:
    """This process's CPU (µs) per call of ``step``."""
    start = cpu_s()
    for _ in range(n):
        step()
    return (cpu_s() - start) * 1e6 / n


def sleep_wake(sleep_ms: float) -> float:
    n = max(50, min(2000, int(2000 / sleep_ms)))
    return per_iteration_us(lambda: time.sleep(sleep_ms / 1000), n)


def touch_per_page(pages: int, sleep_ms: float) -> float:
    buf = bytearray(pages * PAGE)

    def touch() -> None:
        for at in range(0, len(buf), PAGE):
            buf[at] = 1

    touch()
    if sleep_ms <= 0:
        return per_iteration_us(touch, 100) / pages
    idle = sleep_wake(sleep_ms)

    def step() -> None:
        time.sleep(sleep_ms / 1000)
        touch()

    return (per_iteration_us(step, 100) - idle) / pages


def round_trips(port: int, redis_pid: int, pause_ms: float) -> tuple[float, float]:
    """Client and Redis CPU (µs) per PING round trip, each after a pause of ``pause_ms``."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def ping() -> None:
        sock.sendall(b"PING\r\n")
        if sock.recv(64) != b"+PONG\r\n":
            raise RuntimeError("unexpected reply")

    for _ in range(100):
        ping()
    n = 2000 if pause_ms <= 0 else 300
    idle = sleep_wake(pause_ms) if pause_ms > 0 else 0.0

    def step() -> None:
        if pause_ms > 0:
            time.sleep(pause_ms / 1000)
        ping()

    server_start = cpu_s(redis_pid)
    client = per_iteration_us(step, n) - idle
    server = (cpu_s(redis_pid) - server_start) * 1e6 / n
    sock.close()
    return client, server


def main() -> None:
    out: dict[str, float] = {}
    for ms in (0.1, 1, 3, 10, 30):
        out[f"sleep_{ms:g}ms_wake_us"] = us = sleep_wake(ms)
        print(f"sleep {ms:g} ms and wake: {us:.0f} us of CPU", flush=True)
    out["page_touch_warm_us"] = warm = touch_per_page(2048, 0)
    out["page_touch_after_10ms_sleep_us"] = cold = touch_per_page(2048, 10)
    print(
        f"touching a 4 KiB page: {warm:.2f} us back to back, {cold:.2f} us after a 10 ms sleep",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="clawbus-wakeup-") as tmp:
        server = EmbeddedRedis(Path(tmp) / "redis")
        server.start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            for pause in (0, 1, 10):
                client, redis = round_trips(server.port, pid, pause)
                out[f"ping_after_{pause}ms_client_us"] = client
                out[f"ping_after_{pause}ms_redis_us"] = redis
                what = "back to back" if pause == 0 else f"after a {pause} ms pause"
                print(
                    f"Redis PING {what}: client {client:.0f} us, Redis {redis:.0f} us of CPU",
                    flush=True,
                )
        finally:
            server.stop()
    print(json.dumps({k: round(v, 2) for k, v in out.items()}))


if __name__ == "__main__":
    main()
