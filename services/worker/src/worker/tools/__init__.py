"""The agent's tools, by module: messaging, tasks, memory, agents."""

from __future__ import annotations

from worker.tools import agents, memory, messaging, tasks
from worker.tools.base import Toolbox


def default_toolbox() -> Toolbox:
    return Toolbox([*messaging.TOOLS, *tasks.TOOLS, *memory.TOOLS, *agents.TOOLS])
