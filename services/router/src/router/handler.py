"""The route stage: one inbound message in, one agent-lane entry per engaged agent out."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from redis.asyncio import Redis

from common import metrics
from common.bus import ClaimedLane, Entry
from common.bus.writer import Emit
from common.config import Config
from common.envelope import derive_id
from common.errors import PermanentError
from common.keys import Keys, Stage
from common.messages import InboundMessage
from router.decision import NO_STATE, RouteState, decide

log = logging.getLogger("clawbus.router")

STICKY_TTL_S = 24 * 3600


class RouteHandler:
    def __init__(self, redis: Redis, keys: Keys, config: Config) -> None:
        self.redis = redis
        self.keys = keys
        self.config = config
        self._sticky_agents = {w.agent for w in config.wiring if w.engage_mode == "mention-sticky"}

    def _sticky_key(self, agent: str, msg: InboundMessage) -> str:
        return self.keys.kv(f"sticky:{agent}:{msg.conversation}:{msg.thread_id or 'main'}")

    async def _state(self, msg: InboundMessage) -> RouteState:
        if not self._sticky_agents:
            return NO_STATE
        agents = sorted(self._sticky_agents)
        values = await self.redis.mget([self._sticky_key(a, msg) for a in agents])
        return RouteState(sticky=frozenset(a for a, v in zip(agents, values, strict=True) if v))

    async def __call__(self, lane: ClaimedLane, entry: Entry) -> list[Emit]:
        env = entry.envelope
        assert env is not None
        try:
            msg = InboundMessage.model_validate(env.payload)
        except ValidationError as exc:
            raise PermanentError(f"not an inbound message: {exc.error_count()} errors") from exc
        decision = decide(self.config, await self._state(msg), msg)
        for agent in decision.stick:
            await self.redis.set(self._sticky_key(agent, msg), b"1", ex=STICKY_TTL_S)
        if not decision.targets:
            metrics.MESSAGES.labels("route", "dropped").inc()
            log.info(
                "not routed",
                extra={
                    "conversation": msg.conversation,
                    "reason": decision.reason,
                    "trace_id": env.trace_id,
                },
            )
            return []
        # An agent input in its JSON form, built as such (defaults left out, as
        # ``payload_of`` leaves them): the message goes on as it came (validated above)
        # instead of through a model that is dumped again at once.
        reply_to: dict[str, object] = {"channel": msg.channel, "chat_id": msg.chat_id}
        if msg.thread_id is not None:
            reply_to["thread_id"] = msg.thread_id
        if msg.bot is not None:
            reply_to["bot"] = msg.bot
        emits = []
        for target in decision.targets:
            payload: dict[str, object] = {
                "kind": "message",
                "agent": target.agent,
                "session": target.session,
                "reply_to": reply_to,
                "message": env.payload,
            }
            if target.silent:
                payload["silent"] = True
            child = env.child(derive_id(env.id, target.agent), "agent_input", payload)
            emits.append(Emit(Stage.AGENT, target.session, child))
        return emits
