"""The global agent-run cap: a sorted-set semaphore with leased slots.

Each slot is a holder id scored by its lease expiry (server clock). A worker's claim of
agent lanes takes a slot for each lane in the same script (``claim``), so no lane waits
for its slot and no slot is taken for a lane that did not come; the worker renews them
with its lane leases and gives them back when a run ends; a dead worker's slots expire
with its leases. The cap is exact while holders renew in time; a holder paused past its
lease may briefly coexist with its replacement.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from common.bus import scripts
from common.bus.lanes import SlotClaim


class Slots:
    def __init__(self, redis: Redis, key: str, cap: int, ttl_s: float) -> None:
        self.redis = redis
        self.key = key
        self.cap = cap
        self.ttl_ms = int(ttl_s * 1000)
        # what a lane claim needs to take its lanes' slots itself (``LaneBus.claim_and``);
        # its ``room`` then goes to ``claimed``. The prefix names this holder's slots.
        self.claim = SlotClaim(key, cap, self.ttl_ms, uuid.uuid4().hex[:12])
        self._renew = redis.register_script(scripts.SLOTS_RENEW)
        self._in_use = redis.register_script(scripts.SLOTS_IN_USE)
        # Slots left free after this holder's last claim, counting those it gave back
        # since: once it is 0, a look at the slots comes before the next claim.
        self.room: int | None = None

    def claimed(self, room: int | None) -> None:
        """The slots a claim left free, as the hint."""
        if room is not None:
            self.room = room

    async def release(self, ids: list[str]) -> None:
        if ids:
            await self.redis.zrem(self.key, *ids)
            self.released(len(ids))

    def queue_release(self, pipe: Pipeline, ids: list[str]) -> None:
        """Queue the release of ``ids`` in someone else's round trip; call ``released``
        once it went through."""
        pipe.zrem(self.key, *ids)

    def released(self, n: int) -> None:
        if self.room is not None:
            self.room = min(self.cap, self.room + n)

    async def renew(self, ids: list[str]) -> list[str]:
        if not ids:
            return []
        lost = await self._renew(keys=[self.key], args=[self.ttl_ms, *ids])
        return [x.decode() if isinstance(x, bytes) else str(x) for x in lost]

    async def free(self) -> int:
        """Slots not held by a live holder right now (a hint: others may take them first)."""
        self.room = max(0, self.cap - await self.in_use())
        return self.room

    async def in_use(self) -> int:
        return int(await self._in_use(keys=[self.key], args=[]))
