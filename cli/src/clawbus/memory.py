"""``clawbus memory``: read and replace an agent's memory document.

The document is the one the agent reads in its prompt and changes with ``update_memory``;
a replacement takes effect from the agent's next turn.
"""

from __future__ import annotations

import sys
from pathlib import Path

from common.context import Context


async def _known(ctx: Context, agent: str) -> bool:
    if agent in ctx.config.agents:
        return True
    return bool(await ctx.redis.hexists(ctx.keys.runtime_agents, agent))


async def show(ctx: Context, agent: str) -> int:
    if not await _known(ctx, agent):
        print(f"no agent named {agent!r}", file=sys.stderr)
        return 1
    raw: bytes | str | None = await ctx.redis.get(ctx.keys.memory(agent))
    text = raw.decode() if isinstance(raw, bytes) else raw
    print(text if text else f"(the memory of {agent} is empty)")
    return 0


def read_document(source: Path) -> str:
    """The new document from a file (``-``: standard input); an empty one clears it."""
    return sys.stdin.read() if str(source) == "-" else source.read_text()


async def replace(ctx: Context, agent: str, text: str) -> int:
    if not await _known(ctx, agent):
        print(f"no agent named {agent!r}", file=sys.stderr)
        return 1
    await ctx.redis.set(ctx.keys.memory(agent), text)
    print(f"memory of {agent} set ({len(text)} characters)")
    return 0
