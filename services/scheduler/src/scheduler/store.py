"""Tasks in Redis, and firing each occurrence exactly once across scheduler replicas.

An occurrence is claimed atomically (removed from the due set into the firing set), then
published with a deterministic id (idempotent), then rescheduled and unmarked. A replica
that dies in between leaves the occurrence in the firing set; any replica re-fires it
after ``firing_timeout`` and the lane's de-duplication keeps it single.
"""

from __future__ import annotations

from redis.asyncio import Redis

from common.keys import Keys
from common.messages import Task

CLAIM_DUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, 50)
for _, member in ipairs(stale) do
  redis.call('ZADD', KEYS[2], now, member)
  table.insert(out, member)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0,
                       tonumber(ARGV[1]))
for i = 1, #due, 2 do
  local member = due[i] .. '|' .. due[i + 1]
  redis.call('ZREM', KEYS[1], due[i])
  redis.call('ZADD', KEYS[2], now, member)
  table.insert(out, member)
end
return out
"""


class TaskStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._claim = redis.register_script(CLAIM_DUE)

    async def get(self, task_id: str) -> Task | None:
        raw = await self.redis.hget(self.keys.tasks, task_id)
        return Task.model_validate_json(raw) if raw else None

    async def all(self) -> list[Task]:
        raw = await self.redis.hgetall(self.keys.tasks)
        return [Task.model_validate_json(v) for v in raw.values()]

    async def save(self, task: Task) -> None:
        """Store a task and (re)place its next occurrence in the due set."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.tasks, task.id, task.model_dump_json())
            if task.status == "active" and task.next_ms is not None:
                pipe.zadd(self.keys.tasks_due, {task.id: task.next_ms})
            else:
                pipe.zrem(self.keys.tasks_due, task.id)
            await pipe.execute()

    async def claim_due(self, limit: int, firing_timeout_ms: int) -> list[tuple[str, int]]:
        """Occurrences this replica now owns: ``(task_id, occurrence_ms)``."""
        members = await self._claim(
            keys=[self.keys.tasks_due, self.keys.tasks_firing], args=[limit, firing_timeout_ms]
        )
        out = []
        for m in members:
            task_id, _, occ = (m.decode() if isinstance(m, bytes) else m).rpartition("|")
            out.append((task_id, int(float(occ))))
        return out

    async def fired(self, task: Task | None, task_id: str, occurrence_ms: int) -> None:
        """Record the next occurrence (or the end) and unmark this one, atomically."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if task is not None:
                pipe.hset(self.keys.tasks, task.id, task.model_dump_json())
                if task.status == "active" and task.next_ms is not None:
                    pipe.zadd(self.keys.tasks_due, {task.id: task.next_ms})
            pipe.zrem(self.keys.tasks_firing, f"{task_id}|{occurrence_ms}")
            await pipe.execute()

    async def scheduled(self) -> int:
        return int(await self.redis.zcard(self.keys.tasks_due))
