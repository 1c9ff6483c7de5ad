"""What one run knows and accumulates: its turn, its agent, and its effects so far.

Effects are collected, not applied: emits in the order the run produced them, state
changes as ``StateOp``s for the commit. Each effect id is derived from the run id and a
counter, so the same run produces the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from common.bus.writer import Emit
from common.config import AgentConfig, Config
from common.keys import Keys
from common.messages import Destination, Task
from worker.agents import Agents
from worker.journal import StateOp
from worker.memory import MemoryEdit, MemoryWrite
from worker.turn import Turn, is_agent


class ToolError(Exception):
    """A tool call that cannot be done; the message goes back to the model."""


@dataclass
class RunContext:
    turn: Turn
    agent: AgentConfig
    config: Config
    agents: Agents
    redis: Redis
    keys: Keys
    tz: ZoneInfo
    now_ms: int
    destinations: dict[str, Destination | str]
    deadline: float = float("inf")  # time.monotonic() by which the run must end
    memory: str = ""
    emits: list[Emit] = field(default_factory=list)
    ops: list[StateOp] = field(default_factory=list)
    tasks: dict[str, Task] = field(default_factory=dict)
    _count: int = 0
    _memory_write: MemoryWrite | None = None

    @property
    def name(self) -> str:
        return self.turn.agent

    def next_id(self, kind: str) -> str:
        self._count += 1
        return self.turn.effect_id(kind, str(self._count))

    def resolve(self, to: str) -> Destination | str:
        """A destination name (or "" for the current chat): a chat, or an agent's name."""
        if not to:
            return self.turn.reply_to
        if to not in self.destinations:
            names = ", ".join(sorted(self.destinations)) or "none"
            raise ToolError(f"unknown destination {to!r}; you may send to: {names}")
        return self.destinations[to]

    def chat(self, to: str) -> Destination:
        """Like ``resolve``, for effects only a chat can take (edits, reactions, buttons)."""
        target = self.resolve(to)
        if isinstance(target, str) or is_agent(target):
            raise ToolError("this works only in a chat, not with another agent")
        return target

    def edit_memory(self, edit: MemoryEdit) -> str:
        self.memory = edit.apply(self.memory)
        if self._memory_write is None:
            self._memory_write = MemoryWrite(self.keys.memory(self.name))
            self.ops.append(self._memory_write)
        self._memory_write.edits.append(edit)
        return self.memory
