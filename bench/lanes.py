"""What the lane scripts cost Redis per entry, by script and by shape of call.

    uv run python bench/lanes.py [--rounds 40] [--redis-server PATH]

Drives the real ``LaneBus`` through whole hops on a private Redis (AOF everysec): publish
(100 entries a call, as the pipeline benchmark's producer and a router's commits under load
send them), claim (batch 100) and finish with release, for two shapes: every entry in a
lane of its own (a route stage fed by many conversations, a deliver stage) and 20 entries a
lane (an agent stage fed by a router that handled a conversation's backlog). Envelopes are
the size of the pipeline benchmark's. For each script it prints the time Redis spent in it
per entry (``INFO commandstats``: the script call with the commands it ran), the commands
it ran per entry and the AOF bytes per entry; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import uuid
from collections.abc import Awaitable
from pathlib import Path

from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis
from common import wire as wires
from common.bus import ClaimedLane, LaneBus
from common.envelope import Envelope, now_ms, payload_of
from common.keys import Keys, Stage
from common.messages import InboundMessage, Sender

PAD = "x" * 160
SHAPES = {"lane_each": 1, "lanes_of_20": 20}


async def stats(redis: Redis) -> tuple[dict[str, tuple[int, int]], int]:
    """Per command (calls, µs) and the AOF's size."""
    table = await redis.info("commandstats")
    per = {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in table.items()
    }
    aof = int((await redis.info("persistence")).get("aof_current_size", 0))
    return per, aof


class Phase:
    """Redis time (scripts with the commands they ran), commands and AOF bytes of a
    phase."""

    def __init__(self) -> None:
        self.usec = 0
        self.calls = 0
        self.aof = 0

    async def run(self, redis: Redis, work: Awaitable[None]) -> None:
        before, aof = await stats(redis)
        await work
        after, aof_after = await stats(redis)
        for name, (calls, usec) in after.items():
            was_calls, was_usec = before.get(name, (0, 0))
            if name in ("eval", "evalsha"):
                self.usec += usec - was_usec
            elif name != "info":
                self.calls += calls - was_calls
        self.aof += aof_after - aof


def envelope(run: str, i: int) -> Envelope:
    msg = InboundMessage(
        channel="web",
        chat_id=f"c{i}",
        message_id=f"{run}-{i}",
        sender=Sender(id="bench"),
        text=f"{now_ms()} {PAD}",
        sent_ms=now_ms(),
        is_dm=True,
    )
    return Envelope(
        id=msg.message_id,
        kind="inbound",
        trace_id=msg.message_id,
        accepted_ms=now_ms(),
        payload=payload_of(msg),
    )


async def produce(bus: LaneBus, items: list[tuple[str, Envelope]]) -> None:
    for start in range(0, len(items), 100):
        await bus.publish(Stage.ROUTE, items[start : start + 100])


async def take(bus: LaneBus, taken: list[ClaimedLane]) -> None:
    while got := await bus.claim(Stage.ROUTE, 1000, 100):
        taken.extend(got)


async def ack(bus: LaneBus, taken: list[ClaimedLane]) -> None:
    for start in range(0, len(taken), 100):
        batch = taken[start : start + 100]
        await bus.finish_many([(lane, [e.id for e in lane.entries], True) for lane in batch])


async def shape(bus: LaneBus, redis: Redis, per_lane: int, rounds: int) -> dict[str, float]:
    publish, claim, finish = Phase(), Phase(), Phase()
    entries = 0
    for _ in range(rounds):
        run = uuid.uuid4().hex[:8]
        # 1,000 entries a round, a lane's entries side by side (as a commit has them), to
        # the same lanes every round (new ids), as a conversation's lane is used again
        items = [(f"lane{i // per_lane}", envelope(run, i)) for i in range(1000)]
        entries += len(items)
        await publish.run(redis, produce(bus, items))
        taken: list[ClaimedLane] = []
        await claim.run(redis, take(bus, taken))
        assert sum(len(lane.entries) for lane in taken) == len(items), "entries lost"
        await finish.run(redis, ack(bus, taken))
    out: dict[str, float] = {}
    for name, phase in (("publish", publish), ("claim", claim), ("finish", finish)):
        out[f"{name}_us_per_entry"] = phase.usec / entries
        out[f"{name}_cmds_per_entry"] = phase.calls / entries
        out[f"{name}_aof_bytes_per_entry"] = phase.aof / entries
    return out


async def main(args: argparse.Namespace) -> None:
    if args.redis_server:
        os.environ["CLAWBUS_REDIS_SERVER"] = args.redis_server
    with tempfile.TemporaryDirectory(prefix="clawbus-lanes-") as tmp:
        server = EmbeddedRedis(Path(tmp) / "redis", appendfsync="everysec")
        server.start()
        redis = Redis.from_url(server.url)
        wires.attach(redis)
        try:
            print(f"Redis: {(await redis.info('server'))['redis_version']}", flush=True)
            figures: dict[str, float] = {}
            for name, per_lane in SHAPES.items():
                keys = Keys(f"lanes{uuid.uuid4().hex[:6]}", 1)
                got = await shape(LaneBus(redis, keys), redis, per_lane, args.rounds)
                print(f"{name} ({per_lane} entr{'y' if per_lane == 1 else 'ies'} a lane):")
                for script in ("publish", "claim", "finish"):
                    print(
                        f"  {script:8s} {got[f'{script}_us_per_entry']:6.2f} us of Redis, "
                        f"{got[f'{script}_cmds_per_entry']:5.2f} commands, "
                        f"{got[f'{script}_aof_bytes_per_entry']:6.0f} AOF bytes per entry",
                        flush=True,
                    )
                figures |= {f"{name}_{k}": round(v, 3) for k, v in got.items()}
            print(json.dumps(figures, sort_keys=True))
        finally:
            await wires.detach(redis)
            await redis.aclose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--redis-server", help="the redis-server binary to measure on")
    asyncio.run(main(parser.parse_args()))
