"""A worker wired as in production, on real Redis lanes and the fake Messages API.

``say`` publishes a chat message into an agent lane as the router would; ``step`` claims
the lane, runs the real ``AgentHandler`` and commits (publish, then ack) as the consumer
does; ``run_handler`` stops before the commit, which is what a worker killed at that
instant leaves behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.bus import ClaimedLane, Entry, LaneBus
from common.bus.writer import Emit, Staged
from common.config import ALL_TOOLS, Config
from common.consumer import ConsumerOptions, LaneConsumer
from common.envelope import Envelope, decode, new_trace_id, now_ms
from common.keys import Keys, Stage
from common.messages import AgentInput, InboundMessage, OutboundMessage, Sender, TaskCommand
from common.retry import Backoff
from worker.agents import AgentDirectory
from worker.handler import AgentHandler
from worker.history import HistoryItem
from worker.journal import Journal
from worker.providers import Providers
from worker.reads import state_reads
from worker.runtime import AgentRuntime
from worker.settings import WorkerSettings

CONFIG: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "agents": {
        "assistant": {
            "name": "Assistant",
            "system_prompt": "You are Assistant, a helpful test agent.",
            "tools": list(ALL_TOOLS),
            "destinations": {
                "ops": {"channel": "web", "chat_id": "ops-room"},
                "helper": "helper",
            },
            "max_tool_calls": 8,
        },
        "helper": {
            "name": "Helper",
            "description": "answers questions for other agents",
            "destinations": {"assistant": "assistant"},
        },
    },
    "chats": {"web": {"channel": "web", "chat_id": "*"}},
    "wiring": [{"agent": "assistant", "chat": "web"}],
    "users": {"web:alice": {"role": "admin"}, "web:bob": {"role": "member"}},
    "agent_loop_cap": 3,
}


class Harness:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        bus: LaneBus,
        anthropic_url: str,
        *,
        config: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.bus = bus
        self.config = Config.model_validate(config or CONFIG)
        self.settings = WorkerSettings(
            llm_provider="anthropic",
            anthropic_api_key="test-key",
            anthropic_base_url=anthropic_url,
            default_model="claude-sonnet-4-6",
            overload_backoff_base_s=0.05,
            overload_backoff_max_s=0.4,
            typing_interval_s=60.0,
        )
        self.providers = Providers(self.settings)
        self.directory = AgentDirectory(self.config)
        self.runtime = AgentRuntime(
            config=self.config,
            directory=self.directory,
            providers=self.providers,
            redis=redis,
            keys=keys,
            bus=bus,
            tz=self.config.timezone,
            typing_interval_s=self.settings.typing_interval_s,
        )
        self.journal = Journal(redis, keys, held=self.runtime.held)
        self.max_attempts = max_attempts
        self.agent_handler = AgentHandler(
            self.runtime, self.journal, timeout_s=timeout_s, max_attempts=max_attempts
        )

    async def handler(self, lane: ClaimedLane, entries: list[Entry]) -> list[Emit]:
        """The real handler, then its precommit alone (the run's record and state
        changes): what Redis holds when the commit's step stops short of the ack after
        that part (a publish refused, the lease lost), the record it leaves to the step
        written as the step writes it then. Returns the outputs that stand."""
        out = await self.agent_handler(lane, entries)
        if not isinstance(out, Staged):
            return out
        script, keys, args = out.precommit.call
        try:
            reply = await script(keys=keys, args=args)
        except RedisError as exc:
            reply = exc
        if out.precommit.unwritten is not None and reply is None:
            value, ttl_s = out.precommit.unwritten
            await self.redis.set(out.precommit.key, value, ex=ttl_s)
        if out.precommit.landed is not None and not isinstance(reply, Exception):
            out.precommit.landed(reply)  # as the lane commit tells it
        return list(out.precommit.recover(reply))

    async def aclose(self) -> None:
        await self.providers.aclose()

    # -- input ---------------------------------------------------------------------------

    async def say(
        self,
        text: str,
        *,
        sender: str = "alice",
        chat: str = "room",
        agent: str = "assistant",
        silent: bool = False,
        dm: bool = False,
    ) -> Envelope:
        msg = InboundMessage(
            channel="web",
            chat_id=chat,
            message_id=uuid.uuid4().hex,
            platform_message_id=f"p-{uuid.uuid4().hex[:8]}",
            sender=Sender(id=sender, name=sender.title()),
            text=text,
            sent_ms=now_ms(),
            is_dm=dm,
        )
        inp = AgentInput(
            kind="message",
            agent=agent,
            session=f"{agent}|web:{chat}",
            reply_to=msg.destination(),
            message=msg,
            silent=silent,
        )
        return await self.publish(inp, msg.message_id)

    async def publish(self, inp: AgentInput, id: str | None = None) -> Envelope:
        env = Envelope(
            id=id or uuid.uuid4().hex,
            kind="agent_input",
            trace_id=new_trace_id(),
            accepted_ms=now_ms(),
            payload=inp.model_dump(mode="json"),
        )
        await self.bus.publish(Stage.AGENT, [(inp.session, env)])
        return env

    # -- running -------------------------------------------------------------------------

    async def claim(self, stage: Stage = Stage.AGENT, within_s: float = 5.0) -> ClaimedLane:
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            # an agent lane comes with its state, as the worker claims it
            reads = state_reads(self.keys, self.runtime.held) if stage == Stage.AGENT else None
            lanes = await self.bus.claim(stage, 1, 50, reads=reads)
            if lanes:
                return lanes[0]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {stage} lane became ready")
            await asyncio.sleep(0.02)

    async def run_handler(self) -> tuple[ClaimedLane, list[Emit]]:
        lane = await self.claim()
        return lane, await self.handler(lane, lane.entries)

    async def publish_emits(self, emits: list[Emit]) -> None:
        by_stage: dict[Stage, list[tuple[str, Envelope]]] = defaultdict(list)
        for e in emits:
            by_stage[e.stage].append((e.lane, e.envelope))
        for stage, items in by_stage.items():
            await self.bus.publish(stage, items)

    async def commit(self, lane: ClaimedLane, emits: list[Emit]) -> None:
        """What the consumer does after the handler: publish the emits, then ack."""
        await self.publish_emits(emits)
        await self.bus.finish(lane, [e.id for e in lane.entries])

    async def step(self) -> list[Emit]:
        lane, emits = await self.run_handler()
        await self.commit(lane, emits)
        return emits

    @contextlib.asynccontextmanager
    async def consuming(self) -> AsyncIterator[LaneConsumer]:
        """The production consumer loop on the agent stage, in batch mode, until exit."""
        options = ConsumerOptions(
            concurrency=4,
            poll_interval_s=0.05,
            max_attempts=self.max_attempts,
            backoff=Backoff(0.01, 0.05),
        )
        consumer = LaneConsumer(
            self.bus,
            Stage.AGENT,
            self.agent_handler,
            options,
            mode="batch",
            reads=state_reads(self.keys, self.runtime.held),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        try:
            yield consumer
        finally:
            stop.set()
            await task

    # -- looking -------------------------------------------------------------------------

    async def entries(self, stage: Stage, lane: str) -> list[Envelope]:
        stream = self.keys.lane_partition(stage, lane).lane_stream(lane)
        rows: Any = await self.redis.xrange(stream)
        return [decode(fields[b"e"]) for _, fields in rows]

    async def sent(self, chat: str = "room", action: str = "send") -> list[OutboundMessage]:
        envs = await self.entries(Stage.DELIVER, f"web:{chat}")
        out = [OutboundMessage.model_validate(e.payload) for e in envs]
        return [o for o in out if o.action == action]

    async def commands(self, agent: str = "assistant") -> list[TaskCommand]:
        envs = await self.entries(Stage.CONTROL, agent)
        return [TaskCommand.model_validate(e.payload) for e in envs]

    async def history(self, session: str = "assistant|web:room") -> list[HistoryItem]:
        raw = await self.redis.lrange(self.keys.history(session), 0, -1)
        return [HistoryItem.model_validate_json(r) for r in raw]

    async def memory(self, agent: str = "assistant") -> str:
        raw = await self.redis.get(self.keys.memory(agent))
        return raw.decode() if isinstance(raw, bytes) else ""


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def texts(request: dict[str, Any]) -> str:
    """All text a request to the fake showed the model in its messages, joined."""
    out = []
    for m in request["messages"]:
        for b in m["content"]:
            if b["type"] == "text":
                out.append(b["text"])
            elif b["type"] == "tool_result":
                out.append(str(b.get("content", "")))
    return "\n".join(out)
