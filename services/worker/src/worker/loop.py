"""The tool-use loop of one turn: call the model, run the tools it asks for, repeat.

A turn ends when the model answers without calling a tool. Past ``max_tool_calls`` the
remaining calls are refused and the model is asked to answer without tools. The visible
text of each step is sent as it comes, in order with the tools' own effects.
"""

from __future__ import annotations

import logging
import time

from common.ports import LLM, ContentBlock, LLMRequest, ModelMessage
from worker.context import RunContext, ToolError
from worker.cost import CostMeter
from worker.history import merge_roles
from worker.outbox import send_text
from worker.prompt import visible
from worker.tools.base import Toolbox

log = logging.getLogger("clawbus.worker")

REFUSAL_TEXT = "Sorry, I can't help with that."


class AgentLoop:
    def __init__(self, llm: LLM, toolbox: Toolbox, meter: CostMeter) -> None:
        self.llm = llm
        self.toolbox = toolbox
        self.meter = meter

    async def run(
        self, ctx: RunContext, base: LLMRequest, past: list[ModelMessage], user: ModelMessage
    ) -> list[ModelMessage]:
        """Run the turn; returns its model messages after ``user`` (answers, tool results).
        ``past`` is the history's messages with consecutive roles merged already."""
        limit = ctx.agent.max_tool_calls
        calls = 0
        said = False
        produced: list[ModelMessage] = []
        while True:
            # The handler's timeout cancels the run; this check also ends a run whose
            # cancellation a library swallowed.
            if time.monotonic() > ctx.deadline:
                raise TimeoutError
            choice = "auto" if calls < limit else "none"
            request = base.model_copy(
                update={
                    "messages": merge_roles([user, *produced], onto=past),
                    "tool_choice": choice,
                }
            )
            response = await self.llm.complete(request)
            await self.meter.record(ctx.name, response.model or base.model, response.usage)
            if response.content:
                produced.append(ModelMessage(role="assistant", content=response.content))
            said = await self._say(ctx, response.text, first=not said) or said
            uses = [b for b in response.content if b.type == "tool_use"]
            if not uses:
                if response.stop_reason == "refusal" and not said:
                    await self._say(ctx, REFUSAL_TEXT, first=True)
                return produced
            results: list[ContentBlock] = []
            for use in uses:
                if calls >= limit:
                    results.append(_refused(use, limit))
                    continue
                calls += 1
                results.append(await self.toolbox.call(ctx, use))
            produced.append(ModelMessage(role="user", content=results))
            if choice == "none":  # a model that ignores tool_choice still ends here
                return produced

    @staticmethod
    async def _say(ctx: RunContext, text: str, *, first: bool) -> bool:
        shown = visible(text)
        if not shown:
            return False
        last = ctx.turn.last.input.message
        quote = last.platform_message_id if first and last else None
        try:
            await send_text(ctx, ctx.turn.reply_to, shown, reply_to=quote)
        except ToolError as exc:  # an answer to an agent past the loop cap
            log.warning("answer not sent", extra={"session": ctx.turn.session, "error": str(exc)})
            return False
        return True


def _refused(use: ContentBlock, limit: int) -> ContentBlock:
    return ContentBlock(
        type="tool_result",
        tool_use_id=use.id,
        content=f"not run: the limit of {limit} tool calls per turn is reached; answer now",
        is_error=True,
    )
