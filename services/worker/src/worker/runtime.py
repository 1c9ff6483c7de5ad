"""One agent run: a session's turn in; its emits and state changes (an ``Outcome``) out.

Order of a run: chat commands; silent inputs straight into history; otherwise typing on,
history loaded (and compacted past the agent's budget), the tool-use loop, and the turn
appended to the history. Nothing is written until the handler commits the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from common.bus import LaneBus
from common.bus.writer import Emit
from common.coalesce import Coalescer
from common.config import Config
from common.envelope import now_ms
from common.errors import PermanentError
from common.keys import Keys
from common.messages import OutboundMessage
from common.ports import LLM, ContentBlock, LLMRequest, ModelMessage
from worker import compaction, emits
from worker.agents import AgentDirectory
from worker.commands import handle_commands
from worker.context import RunContext
from worker.cost import CostMeter
from worker.history import History, HistoryHeld, HistoryItem, HistoryStore, HistoryWrite
from worker.journal import Outcome, SetKey, StateOp
from worker.loop import AgentLoop
from worker.presence import Presence
from worker.prompt import context_system, describe, render_inputs, stable_system
from worker.providers import Providers
from worker.reads import RunReads, read_run
from worker.timers import CoarseTimers
from worker.tools import default_toolbox
from worker.turn import Turn, is_agent

SESSION_REPLY_TTL_S = 30 * 24 * 3600


class AgentRuntime:
    def __init__(
        self,
        *,
        config: Config,
        directory: AgentDirectory,
        providers: Providers,
        redis: Redis,
        keys: Keys,
        bus: LaneBus,
        tz: str,
        typing_interval_s: float = 5.0,
        typing_delay_s: float = 0.0,
        history_cache_items: int = 4096,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.config = config
        self.directory = directory
        self.providers = providers
        self.redis = redis
        self.keys = keys
        self.tz = ZoneInfo(tz)
        self.clock = clock
        self.histories = HistoryStore(cache_items=history_cache_items)
        self.held = HistoryHeld(history_cache_items)
        self.meter = CostMeter(redis, keys)
        self.timers = CoarseTimers()  # a run's timeout and typing delay, armed every run
        self.presence = Presence(bus, typing_interval_s, typing_delay_s, self.timers)
        self.toolbox = default_toolbox()
        self.batch = Coalescer(redis)

    async def run(
        self, turn: Turn, *, deadline: float = float("inf"), reads: RunReads | None = None
    ) -> Outcome:
        """Run ``turn``; ``reads`` are its pre-run reads if the caller already has them."""
        if reads is None:
            reads = await read_run(self.batch, self.keys, turn)
        agents = self.directory.parse(reads.agents)
        agent = agents.get(turn.agent)
        if agent is None:
            raise PermanentError(f"no agent named {turn.agent!r}")
        ctx = RunContext(
            turn=turn,
            agent=agent,
            config=self.config,
            agents=agents,
            redis=self.redis,
            keys=self.keys,
            tz=self.tz,
            now_ms=self.clock(),
            destinations=agents.destinations(turn.agent),
            deadline=deadline,
        )
        inputs, clear = await handle_commands(ctx, self.meter)
        write = self._history_write(ctx.turn, ctx.ops, clear=clear)
        write.before = reads.history
        if not inputs:
            return Outcome(ctx.emits, ctx.ops)
        user = ModelMessage(
            role="user", content=render_inputs(inputs, self.tz, ctx.now_ms, turn.reply_to)
        )
        if all(i.input.silent for i in inputs):
            write.add_turn(turn.run_id, ctx.now_ms, [user])
            return Outcome(ctx.emits, ctx.ops)
        llm = self.providers.for_agent(agent)
        model = self.providers.model_for(agent)
        history = History() if clear else self.histories.parse(reads.history, turn.session)
        ctx.memory = reads.memory.decode() if reads.memory else ""
        async with self.presence.typing(turn):
            history = await self._compact(ctx, llm, model, history, write)
            base = LLMRequest(
                model=model,
                stable_system=stable_system(agent, self._destinations(ctx), str(self.tz)),
                system=context_system(ctx.memory, history.summary),
                messages=[],
                tools=self.toolbox.specs(agent.tools),
                max_tokens=agent.max_tokens,
            )
            loop = AgentLoop(llm, self.toolbox, self.meter)
            produced = await loop.run(ctx, base, history.messages(), user)
        write.add_turn(turn.run_id, ctx.now_ms, [user, *produced])
        self.histories.learn(write)
        return Outcome(ctx.emits, ctx.ops)

    def stopped(self, turn: Turn, text: str, *, keep_inputs: bool) -> Outcome:
        """The outcome of a run cut short: the user is told ``text``; with ``keep_inputs``
        the inputs stay in the history, followed by that text."""
        ops: list[StateOp] = []
        told: list[Emit] = []
        if not is_agent(turn.reply_to):
            out = OutboundMessage(
                id=turn.effect_id("stopped"),
                destination=turn.reply_to,
                agent=turn.agent,
                session=turn.session,
                text=text,
            )
            told.append(emits.outbound(turn, out))
        if keep_inputs:
            now = self.clock()
            write = self._history_write(turn, ops, clear=False)
            user = ModelMessage(
                role="user", content=render_inputs(turn.inputs, self.tz, now, turn.reply_to)
            )
            said = ModelMessage(role="assistant", content=[ContentBlock(type="text", text=text)])
            write.add_turn(turn.run_id, now, [user, said])
        return Outcome(told, ops)

    def _history_write(self, turn: Turn, ops: list[StateOp], *, clear: bool) -> HistoryWrite:
        write = HistoryWrite(
            self.keys.history(turn.session),
            turn.session,
            clear=clear,
            writer=(self.keys.history_writers, self.held.writer),
            keeps=self.held.items,
        )
        ops.append(write)
        if not is_agent(turn.reply_to):
            key = self.keys.session_reply(turn.session)
            # without its unset fields, as history items are: the reader fills them in
            home = turn.reply_to.model_dump_json(exclude_defaults=True)
            ops.append(SetKey(key, home, ex=SESSION_REPLY_TTL_S))
        return write

    @staticmethod
    def _destinations(ctx: RunContext) -> dict[str, str]:
        out = {}
        for name, dest in ctx.destinations.items():
            other = ctx.agents.get(dest) if isinstance(dest, str) else None
            out[name] = describe(dest, other.description if other else "")
        return out

    async def _compact(
        self, ctx: RunContext, llm: LLM, model: str, history: History, write: HistoryWrite
    ) -> History:
        fold = history.to_fold(ctx.agent.history_token_budget)
        if not fold:
            return history
        turns = history.turns
        response = await llm.complete(
            compaction.summary_request(model, history.summary, turns[:fold])
        )
        await self.meter.record(ctx.name, response.model or model, response.usage)
        text = compaction.summary_text(response, history.summary)
        summary = HistoryItem.summary(ctx.turn.run_id, ctx.now_ms, text)
        kept = turns[fold:]
        write.drop = len(history.items) - len(kept)
        write.summary = summary
        return History([summary, *kept])
