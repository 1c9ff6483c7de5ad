"""The ``clawbus`` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.exceptions import RedisError

from common.context import Context
from common.keys import Stage
from common.settings import Settings


def _settings() -> Settings:
    """Settings from the environment; with no Redis configured, the one `up` started here."""
    local = Path(".clawbus/redis-url")
    if "CLAWBUS_REDIS_URL" not in os.environ and local.exists():
        return Settings(redis_url=local.read_text().strip())
    return Settings()


def _with_context(fn: Callable[[Context], Awaitable[int]]) -> int:
    async def run() -> int:
        ctx = Context.create(_settings())
        try:
            return await fn(ctx)
        finally:
            await ctx.aclose()

    try:
        return asyncio.run(run())
    except (RedisError, OSError) as exc:
        print(
            f"clawbus: Redis unreachable ({exc}); is `clawbus up` running, "
            "and is CLAWBUS_REDIS_URL right?",
            file=sys.stderr,
        )
        return 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clawbus", description="Run and operate clawbus.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run everything locally (embedded Redis unless configured)")
    up.add_argument("--data-dir", type=Path, default=Path(".clawbus"))
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8080)
    send = sub.add_parser("send", help="inject a web chat message and print the reply")
    send.add_argument("text")
    send.add_argument("--conversation", default="cli")
    send.add_argument("--sender", default="cli")
    send.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a reply")
    lanes = sub.add_parser("lanes", help="backlog, holders and oldest entries per stage")
    lanes.add_argument("--top", type=int, default=10)
    dlq = sub.add_parser("dlq", help="dead letters")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True)
    dsub.add_parser("list")
    replay = dsub.add_parser("replay", help="put dead letters back at the tail of their lanes")
    replay.add_argument("stage", choices=[s.value for s in Stage])
    replay.add_argument("ref", nargs="?", help="PARTITION:ID from `dlq list`; all if omitted")
    task = sub.add_parser("task", help="scheduled tasks")
    tsub = task.add_subparsers(dest="task_command", required=True)
    add = tsub.add_parser("add")
    add.add_argument("prompt")
    add.add_argument("--agent", default="assistant")
    add.add_argument("--conversation", default="cli")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--in", dest="in_s", type=float, help="seconds from now")
    when.add_argument("--cron")
    when.add_argument("--every", dest="every_s", type=float, help="interval in seconds")
    tsub.add_parser("list")
    migrate = sub.add_parser(
        "migrate-keys",
        help="move an install's keys to the install-wide hash tag (services stopped)",
    )
    migrate.add_argument("--dry-run", action="store_true", help="list the moves, make none")
    memory = sub.add_parser("memory", help="an agent's memory document")
    msub = memory.add_subparsers(dest="memory_command", required=True)
    mshow = msub.add_parser("show", help="print the document")
    mshow.add_argument("agent")
    mset = msub.add_parser("set", help="replace the document with a file's contents")
    mset.add_argument("agent")
    mset.add_argument("--file", type=Path, required=True, help="the new document; - for stdin")
    sub.add_parser("cost", help="model tokens and estimated cost per agent and model")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from clawbus import commands

    if args.command == "up":
        from clawbus.up import run_up

        return run_up(args.data_dir, args.host, args.port)
    if args.command == "send":
        return _with_context(
            lambda c: commands.send(c, args.conversation, args.text, args.sender, args.wait)
        )
    if args.command == "lanes":
        return _with_context(lambda c: commands.lanes(c, args.top))
    if args.command == "dlq":
        if args.dlq_command == "list":
            return _with_context(commands.dlq_list)
        return _with_context(lambda c: commands.dlq_replay(c, Stage(args.stage), args.ref))
    if args.command == "task":
        if args.task_command == "list":
            return _with_context(commands.task_list)
        return _with_context(
            lambda c: commands.task_add(
                c, args.agent, args.conversation, args.prompt, args.in_s, args.cron, args.every_s
            )
        )
    if args.command == "migrate-keys":
        from clawbus.migrate import migrate_keys

        return _with_context(lambda c: migrate_keys(c, dry_run=args.dry_run))
    if args.command == "memory":
        from clawbus import memory as agent_memory

        if args.memory_command == "show":
            return _with_context(lambda c: agent_memory.show(c, args.agent))
        text = agent_memory.read_document(args.file)
        return _with_context(lambda c: agent_memory.replace(c, args.agent, text))
    if args.command == "cost":
        from clawbus import cost

        return _with_context(cost.report)
    return 2


if __name__ == "__main__":
    sys.exit(main())
