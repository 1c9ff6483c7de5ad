"""Where a message's time and CPU go at a steady rate, stage by stage.

    uv run python bench/stages.py [--rate 500] [--messages 5000] [--conversations 1000]

Starts a private Redis (the same server the pipeline benchmark picks) and the five services
as separate processes, warms them up at full speed (so histories and caches are as they are
in the pipeline benchmark's latency run), then publishes ``--messages`` at ``--rate`` and
prints: latency from publish to the web chat's event stream; per stage, how long entries
waited in their lane before a handler took them and how long a handler held its lane (from
the services' own histograms; quantiles are the histogram bucket they fall in), and how
many entries a claimed lane brought on average (for the worker, the messages an agent run
takes at once); the agent run itself; CPU and context switches per message by process; and
Redis's commands per message with the ones that cost it most; and what the key space holds
at the end, by kind of key. With ``--conversations`` at least ``--messages`` and ``--rate
0`` every run has a lane of one message at full speed: the cost of the work itself, with no
idle moments between messages. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import tempfile
from pathlib import Path

import httpx
from pipeline import (
    Clawbus,
    CpuMeter,
    command_calls,
    latency_run,
    percentile,
    redis_pid,
    redis_server,
    server_version,
    throughput,
)
from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis
from common import wire as wires
from common.bus import LaneBus
from common.keys import Stage, root

HISTOGRAMS = {
    "wait": "clawbus_lane_wait_seconds",
    "handler": "clawbus_handler_duration_seconds",
    "run": "clawbus_agent_run_duration_seconds",
}
STAGE_OF = {"router": "route", "worker": "agent", "delivery": "deliver"}

Samples = dict[tuple[str, str, float], float]  # (process, histogram, le) -> count; le -1 = sum


async def scrape(ports: dict[str, int]) -> Samples:
    """The buckets and sums of the stage histograms, by process (summed over labels)."""
    out: Samples = {}
    async with httpx.AsyncClient() as client:
        for name, port in ports.items():
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            for line in text.splitlines():
                series, _, value = line.rpartition(" ")
                for short, metric in HISTOGRAMS.items():
                    if series.startswith(metric + "_bucket{"):
                        le = series.split('le="', 1)[1].split('"', 1)[0]
                        key = (name, short, float(le))
                    elif series.startswith(metric + "_sum"):
                        key = (name, short, -1.0)
                    else:
                        continue
                    out[key] = out.get(key, 0.0) + float(value)
    return out


def histogram(before: Samples, after: Samples, name: str, short: str) -> dict[str, float]:
    """Mean, p50 and p99 (in ms) of what one histogram observed between two scrapes."""
    delta = {
        le: v - before.get((p, s, le), 0.0)
        for (p, s, le), v in after.items()
        if (p, s) == (name, short)
    }
    buckets = sorted((le, n) for le, n in delta.items() if le >= 0)
    count = buckets[-1][1] if buckets else 0.0
    if not count:
        return {}
    out = {"count": count, "mean_ms": delta.get(-1.0, 0.0) / count * 1000}
    for q in (0.5, 0.99):
        out[f"p{round(q * 100)}_ms"] = next(le for le, n in buckets if n >= q * count) * 1000
    return out


STAGES = {stage.value for stage in Stage}


async def keyspace(redis: Redis, ns: str) -> dict[str, tuple[int, int]]:
    """Keys and bytes (``MEMORY USAGE``) by kind: the key's name after the namespace up to
    its next ``:``, ``lanes`` for a lane partition's keys (``<stage>.<partition>:...``)."""
    out: dict[str, tuple[int, int]] = {}
    async for key in redis.scan_iter(match=f"{root(ns)}:*", count=1000):
        rest = key.decode().removeprefix(f"{root(ns)}:")
        first = rest.split(":", 1)[0]
        kind = "lanes" if first.split(".", 1)[0] in STAGES and "." in first else first
        size = int(await redis.memory_usage(key) or 0)
        count, total = out.get(kind, (0, 0))
        out[kind] = (count + 1, total + size)
    return out


def switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of all a process's threads so far."""
    vol = invol = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                vol += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                invol += int(line.split()[1])
    return vol, invol


async def measure(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    server = EmbeddedRedis(tmp / "redis", appendfsync="everysec")
    server.start()
    redis = Redis.from_url(server.url)
    ours = Clawbus(server.url, tmp)
    publisher = Redis.from_url(server.url)
    wires.attach(publisher)
    try:
        await ours.start(("ingest", "router", "worker", "delivery", "scheduler"))
        bus = LaneBus(publisher, ours.keys)
        convs, n = args.conversations, args.messages
        if args.warm:
            await ours.mark(redis)
            await throughput(
                lambda: ours.produce(bus, args.warm, convs, 100, None),
                lambda k: ours.consume(redis, k),
                args.warm,
            )
        await ours.mark(redis)
        ports = {name: ours.ports[name] for name in STAGE_OF}
        pids = {name: p.pid for name, p in ours.procs.items()} | {"redis": await redis_pid(redis)}
        before = await scrape(ports)
        meter = CpuMeter(pids)
        ctx = {name: switches(pid) for name, pid in pids.items()}
        # counted from the reset, which the per-command table below is read against
        await redis.config_resetstat()
        calls = await command_calls(redis)
        lat = await latency_run(
            lambda: ours.produce(bus, n, convs, 1 if args.rate else 100, args.rate or None),
            lambda k: ours.consume(redis, k),
            n,
        )
        cpu = meter.per_msg_us(n)
        after_ctx = {name: switches(pid) for name, pid in pids.items()}
        cmds = (await command_calls(redis) - calls) / n
        stats = await redis.info("commandstats")
        after = await scrape(ports)
        kept = await keyspace(redis, ours.ns)
    finally:
        ours.stop()
        await wires.detach(publisher)
        await publisher.aclose()
        await redis.aclose()
        server.stop()
    f: dict[str, float] = {
        "p50_ms": percentile(lat, 0.5),
        "p99_ms": percentile(lat, 0.99),
        "cpu_us_per_msg": sum(cpu.values()),
        "redis_cmds_per_msg": cmds,
    }
    for name, stage in STAGE_OF.items():
        for short in ("wait", "handler"):
            for k, v in histogram(before, after, name, short).items():
                f[f"{stage}_{short}_{k}"] = v
    for k, v in histogram(before, after, "worker", "run").items():
        f[f"agent_run_{k}"] = v
    for stage in STAGE_OF.values():
        # a handler holds its lane once per claim: entries per claimed lane, by stage
        if f.get(f"{stage}_handler_count"):
            f[f"{stage}_entries_per_lane"] = f[f"{stage}_wait_count"] / f[f"{stage}_handler_count"]
    for name in pids:
        f[f"cpu_us_per_msg_{name}"] = cpu[name]
        f[f"voluntary_switches_per_msg_{name}"] = (after_ctx[name][0] - ctx[name][0]) / n
        f[f"involuntary_switches_per_msg_{name}"] = (after_ctx[name][1] - ctx[name][1]) / n
    print(
        f"{n} messages at {args.rate:.0f} msg/s over {convs} conversations: "
        f"p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms",
        flush=True,
    )
    print_stages(f)
    for name in pids:
        print(
            f"  {name}: {cpu[name]:.0f} us of CPU, "
            f"{f[f'voluntary_switches_per_msg_{name}']:.2f} voluntary and "
            f"{f[f'involuntary_switches_per_msg_{name}']:.2f} involuntary switches per message",
            flush=True,
        )
    print(f"  Redis: {cmds:.1f} commands per message; by Redis time:", flush=True)
    top = sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:8]
    for command, s in top:
        print(
            f"    {command.removeprefix('cmdstat_'):18s} {s['calls'] / n:6.2f} per message, "
            f"{s['usec'] / n:7.1f} us per message, {s['usec_per_call']:6.1f} us per call",
            flush=True,
        )
    f |= report_keyspace(kept, args.warm + n)
    return f


def print_stages(f: dict[str, float]) -> None:
    """Each stage's waits and handler times, and how many entries its lanes brought."""
    for stage in (*STAGE_OF.values(), "agent_run"):
        for short in ("wait", "handler") if stage != "agent_run" else ("",):
            key = f"{stage}_{short}_" if short else f"{stage}_"
            if f.get(key + "mean_ms") is None:
                continue
            print(
                f"  {stage} {short or 'itself'}: mean {f[key + 'mean_ms']:.2f} ms, "
                f"p50 <= {f[key + 'p50_ms']:g} ms, p99 <= {f[key + 'p99_ms']:g} ms",
                flush=True,
            )
        if f.get(f"{stage}_entries_per_lane"):
            print(
                f"  {stage}: {f[f'{stage}_entries_per_lane']:.2f} entries per claimed lane "
                f"({f[f'{stage}_handler_count']:.0f} lanes handled)",
                flush=True,
            )


def report_keyspace(kept: dict[str, tuple[int, int]], messages: int) -> dict[str, float]:
    print(f"  Redis keys after {messages} messages, by kind:", flush=True)
    f: dict[str, float] = {}
    for kind, (count, size) in sorted(kept.items(), key=lambda kv: -kv[1][1]):
        f[f"keys_{kind}"] = count
        f[f"key_bytes_{kind}"] = size
        print(f"    {kind:18s} {count:7d} keys, {size / 1e6:8.2f} MB", flush=True)
    return f


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=500.0, help="messages/s; 0 = full speed")
    ap.add_argument("--messages", type=int, default=5_000)
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--warm", type=int, default=10_000, help="messages sent first, at full speed")
    ap.add_argument("--redis-server", default=redis_server())
    args = ap.parse_args()
    os.environ["CLAWBUS_REDIS_SERVER"] = args.redis_server
    print(f"Redis: {args.redis_server}: {server_version(args.redis_server)}", flush=True)
    f = await measure(args, Path(tempfile.mkdtemp(prefix="clawbus-stages-")))
    # a quantile past the largest bucket is infinite, a run with no replies has no
    # percentiles: both are null, so the line stays valid JSON
    print(json.dumps({k: round(v, 3) if math.isfinite(v) else None for k, v in f.items()}))


if __name__ == "__main__":
    asyncio.run(main())
