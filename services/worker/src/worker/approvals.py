"""Approval requests: what an admin must approve (creating an agent), and the decision.

A request is one JSON key (``keys.approval(id)``) written when the requesting run commits.
The decision is applied at the commit of the run that handled the admin's answer, and only
while the request is still pending, so two admins answering at once decide it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from common.config import AgentConfig, Config
from common.keys import Keys
from common.messages import Destination
from worker.agents import RuntimeAgent

APPROVAL_TTL_S = 30 * 24 * 3600


class Approval(BaseModel):
    id: str
    kind: Literal["create_agent"] = "create_agent"
    agent: str
    session: str
    reply_to: Destination
    name: str
    spec: AgentConfig
    status: Literal["pending", "approved", "rejected"] = "pending"
    requested_ms: int = 0
    decided_by: str = ""


def is_admin(config: Config, agent: str, handle: str) -> bool:
    """Owners, and admins of all agents or of this one."""
    user = config.users.get(handle)
    if user is None:
        return False
    return user.role == "owner" or (
        user.role == "admin" and (not user.agents or agent in user.agents)
    )


async def load(redis: Redis, keys: Keys, approval_id: str) -> Approval | None:
    raw: bytes | str | None = await redis.get(keys.approval(approval_id))
    return Approval.model_validate_json(raw) if raw else None


@dataclass
class RequestApproval:
    """Store a new request (a ``StateOp``)."""

    keys: Keys
    approval: Approval

    def watch(self) -> list[str]:
        return []

    async def read(self, pipe: Pipeline) -> None:
        return None

    def write(self, pipe: Pipeline) -> None:
        key = self.keys.approval(self.approval.id)
        pipe.set(key, self.approval.model_dump_json(), nx=True, ex=APPROVAL_TTL_S)


@dataclass
class Decide:
    """Decide a pending request (a ``StateOp``); approving creates the runtime agent."""

    keys: Keys
    approval_id: str
    approve: bool
    by: str
    now_ms: int
    _pending: Approval | None = None

    def watch(self) -> list[str]:
        return [self.keys.approval(self.approval_id)]

    async def read(self, pipe: Pipeline) -> None:
        raw: bytes | str | None = await pipe.get(self.keys.approval(self.approval_id))
        found = Approval.model_validate_json(raw) if raw else None
        self._pending = found if found and found.status == "pending" else None

    def write(self, pipe: Pipeline) -> None:
        if self._pending is None:
            return
        status: Literal["approved", "rejected"] = "approved" if self.approve else "rejected"
        decided = self._pending.model_copy(update={"status": status, "decided_by": self.by})
        pipe.set(self.keys.approval(decided.id), decided.model_dump_json(), ex=APPROVAL_TTL_S)
        if self.approve:
            agent = RuntimeAgent(
                config=decided.spec,
                created_by=decided.agent,
                approved_by=self.by,
                created_ms=self.now_ms,
            )
            pipe.hsetnx(self.keys.runtime_agents, decided.name, agent.model_dump_json())
