"""Benchmark: the whole clawbus pipeline against the bare Redis Streams ceiling, same run.

    uv run python bench/pipeline.py [--messages 20000] [--conversations 1000]

Runs five clawbus services as separate processes (echo provider, no delay) and a chain of
bare XREADGROUP -> XADD+XACK hop processes with as many hops as the pipeline has, on one
private Redis (AOF everysec). Prints throughput, latency at a steady rate (and at a lower
one, below saturation), HTTP ingest against a FastAPI endpoint that only XADDs, and Redis
commands per message; the last line is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis, free_port
from common.bus import LaneBus
from common.envelope import Envelope, now_ms
from common.keys import Keys, Stage
from common.messages import InboundMessage, Sender
from common.settings import Settings

HOPS = 3  # router, worker, delivery: each reads a lane and writes the next
BARE = Path(__file__).with_name("bare.py")
PAD = "x" * 160


SPAWNED: list[subprocess.Popen[bytes]] = []


class Pace:
    """Sends message ``i`` at ``i / rate`` seconds from the start (a steady rate however
    long each send takes); no pacing without a rate."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.start = time.monotonic()

    async def until(self, i: int) -> None:
        if self.rate:
            delay = self.start + i / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    proc = subprocess.Popen([sys.executable, *args], env=env, stdout=out, stderr=out)
    SPAWNED.append(proc)
    return proc


async def wait_http(port: int, path: str = "/healthz", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (
                    await client.get(f"http://127.0.0.1:{port}{path}", timeout=1)
                ).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing answered on port {port}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def last_id(redis: Redis, stream: str) -> str:
    rows = await redis.xrevrange(stream, count=1)
    return rows[0][0].decode() if rows else "0"


async def command_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


# -- the bare chain ------------------------------------------------------------------------


class BareChain:
    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp
        self.prefix = f"bare{uuid.uuid4().hex[:6]}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.after = "0"

    def stream(self, i: int) -> str:
        return f"{self.prefix}:s{i}"

    def start(self) -> None:
        for i in range(HOPS):
            self.procs.append(
                spawn(
                    [str(BARE), "hop", self.stream(i), self.stream(i + 1), self.url],
                    dict(os.environ),
                    self.tmp / f"hop{i}.log",
                )
            )

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()

    async def produce(self, redis: Redis, n: int, batch: int, rate: float | None) -> None:
        pace = Pace(rate)
        for start in range(0, n, batch):
            await pace.until(start)
            async with redis.pipeline(transaction=False) as pipe:
                for i in range(start, min(n, start + batch)):
                    pipe.xadd(self.stream(0), {"c": f"b{i % 1000}", "t": time.time_ns(), "p": PAD})
                await pipe.execute()

    async def mark(self, redis: Redis) -> None:
        self.after = await last_id(redis, self.stream(HOPS))

    async def consume(self, redis: Redis, n: int) -> list[float]:
        latencies: list[float] = []
        last = self.after
        while len(latencies) < n:
            got = await redis.xread({self.stream(HOPS): last}, count=1000, block=1000)
            for _, entries in got or []:
                now = time.time_ns()
                for entry_id, fields in entries:
                    last = entry_id
                    latencies.append((now - int(fields[b"t"])) / 1e6)
        return latencies


# -- clawbus -------------------------------------------------------------------------------


class Clawbus:
    def __init__(self, url: str, tmp: Path) -> None:
        self.ns = f"bench{uuid.uuid4().hex[:6]}"
        partitions = int(os.environ.get("CLAWBUS_PARTITIONS", Settings().partitions))
        self.keys = Keys(self.ns, partitions)
        self.tmp = tmp
        self.env = {
            **os.environ,
            "CLAWBUS_REDIS_URL": url,
            "CLAWBUS_NAMESPACE": self.ns,
            "CLAWBUS_CONFIG_PATH": str(tmp / "default.yaml"),
            "CLAWBUS_LLM_PROVIDER": "echo",
            "CLAWBUS_LOG_LEVEL": "WARNING",
            "CLAWBUS_WORKER_CONCURRENCY": "1000",
            "CLAWBUS_AGENT_MAX_CONCURRENCY": "1000",
            "CLAWBUS_ROUTER_CONCURRENCY": "1000",
            "CLAWBUS_DELIVERY_CONCURRENCY": "1000",
            "CLAWBUS_BATCH_SIZE": "100",
            "CLAWBUS_BACKLOG_LIMIT": "100000000",
            "CLAWBUS_INGEST_TOKEN": "bench",
            "CLAWBUS_PARTITIONS": str(partitions),
            # sized as the README advises: 1,000 sessions x the ~25 turns each one reaches
            "CLAWBUS_HISTORY_CACHE_ITEMS": "32768",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.after = "0"
        self.ports: dict[str, int] = {}

    async def start(self, services: tuple[str, ...]) -> None:
        for name in services:
            port = free_port()
            self.ports[name] = port
            env = {**self.env, "CLAWBUS_HTTP_PORT": str(port)}
            self.procs[name] = spawn(["-m", name], env, self.tmp / f"{name}.log")
        for port in self.ports.values():
            await wait_http(port, "/readyz")

    def stop(self) -> None:
        for p in self.procs.values():
            p.kill()
            p.wait()
        self.procs.clear()

    async def produce(
        self, bus: LaneBus, n: int, conversations: int, batch: int, rate: float | None
    ) -> None:
        run = uuid.uuid4().hex[:6]  # ids are de-duplicated: every run needs its own
        pace = Pace(rate)
        for start in range(0, n, batch):
            await pace.until(start)
            items = []
            for i in range(start, min(n, start + batch)):
                conv = f"b{i % conversations}"
                msg = InboundMessage(
                    channel="web",
                    chat_id=conv,
                    message_id=f"{run}-{i}",
                    sender=Sender(id="bench"),
                    text=f"{time.time_ns()} {PAD}",
                    sent_ms=now_ms(),
                    is_dm=True,
                )
                env = Envelope(
                    id=msg.message_id,
                    kind="inbound",
                    trace_id=msg.message_id,
                    accepted_ms=now_ms(),
                    payload=msg.model_dump(mode="json"),
                )
                items.append((msg.conversation, env))
            await bus.publish(Stage.ROUTE, items)

    async def mark(self, redis: Redis) -> None:
        self.after = await last_id(redis, self.keys.webchat_events)

    async def consume(self, redis: Redis, n: int) -> list[float]:
        latencies: list[float] = []
        last = self.after
        while len(latencies) < n:
            got = await redis.xread({self.keys.webchat_events: last}, count=1000, block=1000)
            for _, entries in got or []:
                now = time.time_ns()
                for entry_id, fields in entries:
                    last = entry_id
                    for line in fields.get(b"text", b"").decode().split("\n"):
                        stamp = line.rsplit("] ", 1)[-1].split(" ", 1)[0]
                        if stamp.isdigit():
                            latencies.append((now - int(stamp)) / 1e6)
        return latencies


# -- runs ----------------------------------------------------------------------------------


async def throughput(produce, consume, n: int) -> float:
    started = time.monotonic()
    consumer = asyncio.create_task(consume(n))
    await produce()
    await asyncio.wait_for(consumer, timeout=600)
    return n / (time.monotonic() - started)


async def http_rate(port: int, seconds: float, concurrency: int = 64) -> float:
    body = {"conversation_id": "h", "sender": {"id": "u"}, "text": "hello " + PAD}
    headers = {"authorization": "Bearer bench"}
    accepted = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:

        async def loop() -> None:
            nonlocal accepted
            while time.monotonic() < deadline:
                r = await client.post(
                    f"http://127.0.0.1:{port}/v1/messages", json=body, headers=headers, timeout=10
                )
                accepted += r.status_code == 202

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    return accepted / (time.monotonic() - started)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--latency-messages", type=int, default=5_000)
    ap.add_argument("--http-seconds", type=float, default=8.0)
    ap.add_argument(
        "--low-rate", type=float, default=100.0, help="a second latency run, below saturation"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="clawbus-bench-"))
    server = EmbeddedRedis(tmp / "redis", appendfsync="everysec")
    server.start()
    redis = Redis.from_url(server.url)
    n, lat_n = args.messages, args.latency_messages
    out: dict[str, float] = {}
    try:
        bare = BareChain(server.url, tmp)
        bare.start()
        await asyncio.sleep(1.5)
        await bare.mark(redis)
        calls = await command_calls(redis)
        out["bare_msgs_per_s"] = await throughput(
            lambda: bare.produce(redis, n, 100, None), lambda k: bare.consume(redis, k), n
        )
        out["bare_redis_cmds_per_msg"] = (await command_calls(redis) - calls) / n
        await bare.mark(redis)
        bare_lat = await latency_run(
            lambda: bare.produce(redis, lat_n, 1, args.rate),
            lambda k: bare.consume(redis, k),
            lat_n,
            bare.prefix,
            redis,
        )
        await bare.mark(redis)
        low_n = int(args.low_rate * 10)
        bare_low = await latency_run(
            lambda: bare.produce(redis, low_n, 1, args.low_rate),
            lambda k: bare.consume(redis, k),
            low_n,
            bare.prefix,
            redis,
        )
        bare.stop()
        print(
            f"bare chain ({HOPS} hops): {out['bare_msgs_per_s']:.0f} msg/s, "
            f"p50 {percentile(bare_lat, 0.5):.2f} ms, p99 {percentile(bare_lat, 0.99):.2f} ms "
            f"at {args.rate:.0f} msg/s; p50 {percentile(bare_low, 0.5):.2f} ms, "
            f"p99 {percentile(bare_low, 0.99):.2f} ms at {args.low_rate:.0f} msg/s",
            flush=True,
        )

        ours = Clawbus(server.url, tmp)
        await ours.start(("ingest", "router", "worker", "delivery", "scheduler"))
        bus = LaneBus(redis, ours.keys)
        await ours.mark(redis)
        calls = await command_calls(redis)
        out["msgs_per_s"] = await throughput(
            lambda: ours.produce(bus, n, args.conversations, 100, None),
            lambda k: ours.consume(redis, k),
            n,
        )
        out["redis_cmds_per_msg"] = (await command_calls(redis) - calls) / n
        await ours.mark(redis)
        ours_lat = await latency_run(
            lambda: ours.produce(bus, lat_n, args.conversations, 1, args.rate),
            lambda k: ours.consume(redis, k),
            lat_n,
            None,
            redis,
        )
        await ours.mark(redis)
        ours_low = await latency_run(
            lambda: ours.produce(bus, low_n, args.conversations, 1, args.low_rate),
            lambda k: ours.consume(redis, k),
            low_n,
            None,
            redis,
        )
        ours.stop()
        print(
            f"clawbus (5 services): {out['msgs_per_s']:.0f} msg/s, "
            f"p50 {percentile(ours_lat, 0.5):.2f} ms, p99 {percentile(ours_lat, 0.99):.2f} ms "
            f"at {args.rate:.0f} msg/s; p50 {percentile(ours_low, 0.5):.2f} ms, "
            f"p99 {percentile(ours_low, 0.99):.2f} ms at {args.low_rate:.0f} msg/s",
            flush=True,
        )

        ingest_only = Clawbus(server.url, tmp)
        await ingest_only.start(("ingest",))
        ours_http = await http_rate(ingest_only.ports["ingest"], args.http_seconds)
        ingest_only.stop()
        port = free_port()
        bare_http = spawn(
            [str(BARE), "http", str(port), server.url], dict(os.environ), tmp / "bare-http.log"
        )
        await wait_http(port, "/docs")
        bare_rate = await http_rate(port, args.http_seconds)
        bare_http.kill()
        print(
            f"HTTP ingest: {ours_http:.0f} req/s accepted; bare FastAPI+XADD: "
            f"{bare_rate:.0f} req/s",
            flush=True,
        )

        out.update(
            ratio=out["msgs_per_s"] / out["bare_msgs_per_s"],
            p50_ms=percentile(ours_lat, 0.5),
            p99_ms=percentile(ours_lat, 0.99),
            bare_p50_ms=percentile(bare_lat, 0.5),
            bare_p99_ms=percentile(bare_lat, 0.99),
            low_rate_p50_ms=percentile(ours_low, 0.5),
            low_rate_p99_ms=percentile(ours_low, 0.99),
            bare_low_rate_p50_ms=percentile(bare_low, 0.5),
            bare_low_rate_p99_ms=percentile(bare_low, 0.99),
            http_msgs_per_s=ours_http,
            bare_http_msgs_per_s=bare_rate,
            http_ratio=ours_http / bare_rate,
        )
        print(
            f"redis commands per message: clawbus {out['redis_cmds_per_msg']:.1f}, "
            f"bare {out['bare_redis_cmds_per_msg']:.1f}",
            flush=True,
        )
        print(json.dumps({k: round(v, 3) for k, v in out.items()}))
    finally:
        for proc in SPAWNED:
            if proc.poll() is None:
                proc.kill()
        await redis.aclose()
        server.stop()


async def latency_run(produce, consume, n: int, _prefix: str | None, _redis: Redis) -> list[float]:
    consumer = asyncio.create_task(consume(n))
    await produce()
    latencies = await asyncio.wait_for(consumer, timeout=300)
    warm = min(len(latencies) // 10, 500)  # drop the warm-up
    return latencies[warm:]


if __name__ == "__main__":
    asyncio.run(main())
