"""The agent turn alone, in one process: the worker's CPU per run, by inputs per run.

    uv run python bench/turn.py [--sessions 1000] [--turns 20] [--inputs 1,6]

Runs the worker's real ``AgentHandler`` (echo provider, no delay, the default config) the
way the worker runs it under the pipeline benchmark: entries decoded from their lane bytes
as a claim hands them over, sessions whose history this process wrote last (the claim
brings the list's length only), each run staged for its lane commit and its record then
taken as standing, on uvloop with the collector tuned as a service tunes it. Sessions take
their turns in rotation, as lanes do under load, so each turn finds its session's history
one turn longer. Nothing goes to Redis in a turn; a private Redis stands by for the clients
the runtime holds. With no lane round trips, no waits and no other process between a run's
steps, the figure moves less from run to run than the services' own (about a tenth here in
a quiet moment, against a quarter for the worker's CPU per message in ``bench/stages.py``),
and it is the agent turn's cost alone: the services add the event loop, the lanes and the
wake-ups. Prints CPU per run and per message for each count of inputs, the last line one
JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from pipeline import bench_message, redis_server
from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis
from common import lifecycle
from common.bus import ClaimedLane, Entry, LaneBus
from common.bus.lanes import LaneState
from common.bus.writer import Staged
from common.config import load_config
from common.envelope import Envelope, decode, now_ms, payload_of
from common.keys import Keys, Stage
from common.messages import AgentInput
from worker.agents import AgentDirectory
from worker.handler import AgentHandler
from worker.journal import Journal
from worker.providers import Providers
from worker.runtime import AgentRuntime
from worker.settings import WorkerSettings


def entry_bytes(session: int, turn: int, i: int, run: str) -> tuple[str, bytes]:
    """An agent lane entry as the router writes it for a web chat message."""
    msg = bench_message(f"b{session}", f"{run}-{session}-{turn}-{i}")
    inp = AgentInput(
        kind="message",
        agent="assistant",
        session=f"assistant|web:b{session}",
        reply_to=msg.destination(),
        message=msg,
    )
    env = Envelope(
        id=uuid.uuid4().hex[:24],
        kind="agent_input",
        trace_id=msg.message_id,
        accepted_ms=now_ms(),
        payload=payload_of(inp),
    )
    return f"{now_ms()}-{turn * 100 + i}", env.encode()


async def measure(redis: Redis, args: argparse.Namespace, inputs: int) -> dict[str, float]:
    keys = Keys(f"turn{uuid.uuid4().hex[:6]}", 1)
    bus = LaneBus(redis, keys)
    settings = WorkerSettings(llm_provider="echo")
    config = load_config(None)
    providers = Providers(settings)
    runtime = AgentRuntime(
        config=config,
        directory=AgentDirectory(config),
        providers=providers,
        redis=redis,
        keys=keys,
        bus=bus,
        tz=config.timezone,
        typing_interval_s=settings.typing_interval_s,
        typing_delay_s=settings.typing_delay_s,
        history_cache_items=32768,
    )
    journal = Journal(redis, keys, held=runtime.held)
    handler = AgentHandler(runtime, journal, timeout_s=60, max_attempts=3)
    part = keys.partition(Stage.AGENT, 0)
    run = uuid.uuid4().hex[:6]
    lengths = dict.fromkeys(range(args.sessions), 0)
    # the entries' bytes are made first: only decoding them is part of a turn
    raw = [
        [[entry_bytes(s, t, i, run) for i in range(inputs)] for s in range(args.sessions)]
        for t in range(args.turns)
    ]
    gc.freeze()  # they stand for bytes in Redis: kept out of the collections a service makes
    runs = 0
    cpu = 0.0
    try:
        for t in range(args.turns):
            for s in range(args.sessions):
                started = time.process_time()
                entries = []
                for entry_id, data in raw[t][s]:
                    entries.append(Entry(entry_id, data, 0, decode(data)))
                lane = ClaimedLane(
                    Stage.AGENT, part, f"assistant|web:b{s}", str(runs + 1), entries, now_ms()
                )
                # a history this process wrote last comes as its length; a new session's,
                # written by no one yet, as the empty list
                lane.state = LaneState(None if lengths[s] else [], lengths[s], None, {})
                out = await handler(lane, entries)
                assert isinstance(out, Staged) and out.precommit.landed is not None
                out.precommit.landed(None)  # the record stood: the history is kept
                cpu += time.process_time() - started
                lengths[s] += 1
                runs += 1
    finally:
        await providers.aclose()
    return {
        f"inputs_{inputs}_us_per_run": cpu / runs * 1e6,
        f"inputs_{inputs}_us_per_msg": cpu / (runs * inputs) * 1e6,
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--turns", type=int, default=20, help="turns per session")
    ap.add_argument("--inputs", default="1,6", help="inputs per run, comma-separated")
    ap.add_argument("--redis-server", default=redis_server())
    args = ap.parse_args()
    os.environ["CLAWBUS_REDIS_SERVER"] = args.redis_server
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="clawbus-turn-")))
    server.start()
    redis = Redis.from_url(server.url)
    figures: dict[str, float] = {}
    try:
        for inputs in (int(n) for n in args.inputs.split(",")):
            f = await measure(redis, args, inputs)
            figures |= f
            print(
                f"{inputs} input(s) a run, {args.sessions} sessions x {args.turns} turns: "
                f"{f[f'inputs_{inputs}_us_per_run']:.1f} us of CPU per run, "
                f"{f[f'inputs_{inputs}_us_per_msg']:.1f} per message",
                flush=True,
            )
    finally:
        await redis.aclose()
        server.stop()
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


if __name__ == "__main__":
    lifecycle.run(main)  # as a service runs: uvloop, the collector tuned as it is there
