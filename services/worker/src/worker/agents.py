"""Agents by name: the YAML file's, then those created at runtime by an approved request.

Runtime agents live in one Redis hash (``keys.runtime_agents``), name -> ``RuntimeAgent``
JSON; the YAML file wins on a name clash. Each run reads the hash once (``parse`` of it), so
an agent approved a moment ago is known to the very next run, on any worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from common.config import AgentConfig, Config
from common.messages import Destination


class RuntimeAgent(BaseModel):
    config: AgentConfig
    created_by: str
    approved_by: str = ""
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Agents:
    config: Config
    runtime: dict[str, RuntimeAgent]

    def get(self, name: str) -> AgentConfig | None:
        if name in self.config.agents:
            return self.config.agents[name]
        agent = self.runtime.get(name)
        return agent.config if agent else None

    def destinations(self, name: str) -> dict[str, Destination | str]:
        """The names ``name`` may send to: its configured destinations, plus the agents it
        created (a runtime agent names its creator ``parent`` itself)."""
        agent = self.get(name)
        named: dict[str, Destination | str] = dict(agent.destinations) if agent else {}
        for child, spec in self.runtime.items():
            if spec.created_by == name:
                named.setdefault(child, child)
        return named


class AgentDirectory:
    def __init__(self, config: Config) -> None:
        self.config = config

    def parse(self, raw: dict[bytes, bytes] | dict[bytes | str, bytes | str]) -> Agents:
        """The directory from the runtime-agents hash as read."""
        runtime = {
            k.decode() if isinstance(k, bytes) else k: RuntimeAgent.model_validate_json(v)
            for k, v in raw.items()
        }
        return Agents(self.config, runtime)
