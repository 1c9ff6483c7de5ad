"""Whether an agent may send to a destination: checked again at delivery."""

from __future__ import annotations

from common.config import Config
from common.messages import Destination


def allowed(config: Config, agent: str, dest: Destination) -> bool:
    if agent not in config.agents:
        return False
    for named in config.agents[agent].destinations.values():
        if isinstance(named, Destination) and (
            named.channel == dest.channel and named.chat_id == dest.chat_id
        ):
            return True
    chats = set(config.chats_for(dest.channel, dest.chat_id))
    return any(w.agent == agent and w.chat in chats for w in config.wiring)
