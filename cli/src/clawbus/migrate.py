"""``clawbus migrate-keys``: carry an install's keys over from the layout before the
install-wide hash tag (``common.keys.renamed``), with every service stopped.

Each key is renamed in place, so streams keep their consumer groups and pending entries,
and lists, hashes and expiries come along. A key whose new name is already taken is left
where it is and reported. That layout never ran on a Redis Cluster: this runs on one node.
"""

from __future__ import annotations

from common.context import Context
from common.keys import renamed


async def migrate_keys(ctx: Context, *, dry_run: bool) -> int:
    ns = ctx.keys.ns
    moved = taken = 0
    async for raw in ctx.redis.scan_iter(match=f"{ns}:*", count=1000):
        old = raw.decode() if isinstance(raw, bytes) else str(raw)
        new = renamed(ns, old)
        if new is None:
            continue
        if dry_run:
            print(f"{old} -> {new}")
            moved += 1
        elif await ctx.redis.renamenx(old, new):
            moved += 1
        else:
            taken += 1
            print(f"kept {old}: {new} exists already")
    verb = "would move" if dry_run else "moved"
    print(f"{verb} {moved} keys of namespace {ns!r}" + (f", {taken} kept" if taken else ""))
    return 1 if taken else 0
