"""``clawbus cost``: model tokens and estimated dollars per agent and model.

The worker counts them per model call into one Redis hash (``keys.llm_usage``, fields
``<agent>|<model>|<kind>``). Dollars are an estimate from list prices.
"""

from __future__ import annotations

from collections import defaultdict

from common.context import Context

KINDS = ("input", "output", "cache_read", "cache_write")
COST_FIELD = "cost_micro_usd"


async def usage(ctx: Context) -> dict[tuple[str, str], dict[str, int]]:
    raw: dict[bytes | str, bytes | str] = await ctx.redis.hgetall(ctx.keys.llm_usage)
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else field
        agent, model, kind = name.rsplit("|", 2)
        out[(agent, model)][kind] = int(value)
    return dict(out)


async def report(ctx: Context) -> int:
    rows = await usage(ctx)
    if not rows:
        print("no model usage recorded yet")
        return 0
    header = f"{'agent':16} {'model':28} {'input':>12} {'output':>10} {'cache read':>12}"
    print(f"{header} {'cache write':>12} {'est. $':>10}")
    total = 0.0
    for (agent, model), kinds in sorted(rows.items()):
        dollars = kinds.get(COST_FIELD, 0) / 1_000_000
        total += dollars
        counts = " ".join(
            f"{kinds.get(k, 0):>{w},}" for k, w in zip(KINDS, (12, 10, 12, 12), strict=True)
        )
        print(f"{agent:16} {model:28} {counts} {dollars:>10.4f}")
    print(f"total estimated cost: ${total:.4f} (list prices; local models count as $0)")
    return 0
