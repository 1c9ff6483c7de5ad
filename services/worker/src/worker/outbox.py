"""Sending text from a run: to a chat through its deliver lane, or into another agent's lane.

An agent reached by name gets the message in its session with the sender
(``<agent>|agent:<sender>``); its answers come back to the session that wrote to it, and
are answered there in that session's chat. Each agent-to-agent message counts a hop; a
chain longer than ``Config.agent_loop_cap`` is refused, which ends ping-pong loops.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.messages import AgentInput, Button, Destination, InboundMessage, OutboundMessage, Sender
from worker import emits
from worker.context import RunContext, ToolError
from worker.turn import AGENT_CHANNEL, is_agent


def agent_session(agent: str, peer: str) -> str:
    return f"{agent}|{AGENT_CHANNEL}:{peer}"


async def send_text(
    ctx: RunContext,
    target: Destination | str,
    text: str,
    *,
    buttons: Sequence[Button] = (),
    reply_to: str | None = None,
) -> str:
    """Queue ``text`` for ``target`` (a chat, an agent's name, or an agent-session
    destination); returns the id of the message. Raises ``ToolError`` past the loop cap."""
    if isinstance(target, str):
        return await _to_agent(ctx, target, agent_session(target, ctx.name), text)
    if is_agent(target):
        session = target.thread_id or agent_session(target.chat_id, ctx.name)
        return await _to_agent(ctx, target.chat_id, session, text)
    out = OutboundMessage(
        id=ctx.next_id("send"),
        destination=target,
        agent=ctx.name,
        session=ctx.turn.session,
        text=text,
        reply_to=reply_to,
        buttons=list(buttons),
    )
    ctx.emits.append(emits.outbound(ctx.turn, out))
    return out.id


async def _home(ctx: RunContext, session: str) -> Destination | None:
    raw: bytes | str | None = await ctx.redis.get(ctx.keys.session_reply(session))
    return Destination.model_validate_json(raw) if raw else None


async def _to_agent(ctx: RunContext, agent: str, session: str, text: str) -> str:
    hops = ctx.turn.hops + 1
    cap = ctx.config.agent_loop_cap
    if hops > cap:
        raise ToolError(
            f"not sent: this would be agent-to-agent message {hops} in a row (cap {cap})"
        )
    if ctx.agents.get(agent) is None:
        raise ToolError(f"there is no agent named {agent!r}")
    back = Destination(channel=AGENT_CHANNEL, chat_id=ctx.name, thread_id=ctx.turn.session)
    msg_id = ctx.next_id("agent")
    inp = AgentInput(
        kind="message",
        agent=agent,
        session=session,
        reply_to=await _home(ctx, session) or back,
        message=InboundMessage(
            channel=AGENT_CHANNEL,
            chat_id=ctx.name,
            message_id=msg_id,
            sender=Sender(id=ctx.name, name=ctx.agent.name or ctx.name, is_bot=True),
            text=text,
            sent_ms=ctx.now_ms,
            is_dm=True,
        ),
    )
    ctx.emits.append(emits.agent_input(ctx.turn, msg_id, inp, hops=hops))
    return msg_id
