"""One agent turn: the batched inputs of a session in, effects out."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

from common import metrics
from common.bus.writer import Emit
from common.config import Config
from common.envelope import Envelope, derive_id
from common.keys import Stage
from common.messages import AgentInput, OutboundMessage
from common.ports import ContentBlock, LLMRequest, ModelMessage

from worker.providers import Providers


@dataclass(frozen=True, slots=True)
class TurnInput:
    envelope: Envelope
    input: AgentInput


def render_inputs(inputs: list[TurnInput]) -> str:
    """The batched messages as one user turn, each with id, sender and time, escaped."""
    parts = []
    for item in inputs:
        inp = item.input
        if inp.message is not None:
            m = inp.message
            sender = html.escape(m.sender.name or m.sender.id, quote=True)
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m.sent_ms / 1000))
            parts.append(
                f'<message id="{html.escape(m.message_id, quote=True)}" from="{sender}" '
                f'at="{when}">{html.escape(m.text, quote=False)}</message>'
            )
        else:
            parts.append(f"<{inp.kind}>{html.escape(inp.text, quote=False)}</{inp.kind}>")
    return "\n".join(parts)


class AgentRuntime:
    """Runs a turn of an agent for a session and returns what it should cause."""

    def __init__(self, config: Config, providers: Providers) -> None:
        self.config = config
        self.providers = providers

    async def run(self, session: str, inputs: list[TurnInput]) -> list[Emit]:
        first = inputs[0]
        agent_name = first.input.agent
        agent = self.config.agents[agent_name]
        if all(i.input.silent for i in inputs):
            return []
        llm = self.providers.for_agent(agent)
        model = self.providers.model_for(agent)
        request = LLMRequest(
            model=model,
            system=agent.system_prompt,
            messages=[
                ModelMessage(
                    role="user", content=[ContentBlock(type="text", text=render_inputs(inputs))]
                )
            ],
            max_tokens=agent.max_tokens,
        )
        response = await llm.complete(request)
        usage = response.usage
        for kind, n in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_tokens),
            ("cache_write", usage.cache_write_tokens),
        ):
            if n:
                metrics.LLM_TOKENS.labels(agent_name, model, kind).inc(n)
        text = response.text.strip()
        if not text:
            return []
        last = inputs[-1]
        dest = last.input.reply_to
        out = OutboundMessage(
            id=derive_id(last.envelope.id, "reply", "0"),
            destination=dest,
            agent=agent_name,
            session=session,
            text=text,
            reply_to=last.input.message.platform_message_id if last.input.message else None,
        )
        env = last.envelope.child(out.id, "outbound", out.model_dump(mode="json"))
        return [Emit(Stage.DELIVER, dest.lane, env)]
