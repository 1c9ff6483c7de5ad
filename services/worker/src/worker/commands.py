"""Chat commands, handled before the model: /clear, /cost, /approve ID, /reject ID.

A command message is answered directly and never reaches the model or the history.
``/clear`` drops the session's history (and the inputs queued before it); anyone may clear
a direct conversation, owners and admins any conversation. ``/cost`` and the approval
answers are for owners and admins.
"""

from __future__ import annotations

import re

from common.messages import AgentInput, InboundMessage
from worker import emits
from worker.approvals import Decide, is_admin, load
from worker.context import RunContext
from worker.cost import COST_FIELD, CostMeter
from worker.outbox import send_text
from worker.turn import AGENT_CHANNEL, TurnInput

COMMAND = re.compile(r"^/(clear|cost|approve|reject)(?:\s+(\S+))?\s*$")
CLEARED = "Conversation cleared. I start fresh from here."
ADMINS_ONLY = "Only an owner or admin can do that here."


def _command(item: TurnInput) -> tuple[InboundMessage, str, str] | None:
    m = item.input.message
    if m is None or item.input.silent or m.channel == AGENT_CHANNEL:
        return None
    found = COMMAND.match(m.text.strip())
    return (m, found.group(1), found.group(2) or "") if found else None


async def handle_commands(ctx: RunContext, meter: CostMeter) -> tuple[list[TurnInput], bool]:
    """Answer the turn's commands; returns the inputs left for the model, and whether the
    history is to be cleared."""
    remaining: list[TurnInput] = []
    clear = False
    for item in ctx.turn.inputs:
        command = _command(item)
        if command is None:
            remaining.append(item)
            continue
        m, name, arg = command
        handle = m.sender.handle(m.channel)
        if name == "clear" and (m.is_dm or is_admin(ctx.config, ctx.name, handle)):
            remaining, clear, text = [], True, CLEARED
        elif name == "cost" and is_admin(ctx.config, ctx.name, handle):
            text = cost_text(ctx.name, await meter.totals(ctx.name))
        elif name in ("approve", "reject"):
            text = await decide(ctx, arg, approve=name == "approve", handle=handle)
        else:
            text = ADMINS_ONLY
        await send_text(ctx, item.input.reply_to, text)
    return remaining, clear


def cost_text(agent: str, totals: dict[str, dict[str, int]]) -> str:
    if not totals:
        return f"No model usage recorded for {agent} yet."
    lines = [f"Model usage of {agent} (cost is an estimate from list prices):"]
    dollars = 0.0
    for model, kinds in sorted(totals.items()):
        cost = kinds.get(COST_FIELD, 0) / 1_000_000
        dollars += cost
        lines.append(
            f"- {model}: {kinds.get('input', 0):,} input, {kinds.get('output', 0):,} output, "
            f"{kinds.get('cache_read', 0):,} cache read, {kinds.get('cache_write', 0):,} "
            f"cache write tokens; ${cost:.4f}"
        )
    lines.append(f"Total: ${dollars:.4f}")
    return "\n".join(lines)


async def decide(ctx: RunContext, approval_id: str, *, approve: bool, handle: str) -> str:
    approval = await load(ctx.redis, ctx.keys, approval_id) if approval_id else None
    if approval is None:
        return f"There is no approval request {approval_id!r}."
    if not is_admin(ctx.config, approval.agent, handle):
        return ADMINS_ONLY
    if approval.status != "pending":
        return f"Request {approval.id} was already {approval.status}."
    ctx.ops.append(Decide(ctx.keys, approval.id, approve, handle, ctx.now_ms))
    verdict = "approved" if approve else "rejected"
    note = AgentInput(
        kind="system",
        agent=approval.agent,
        session=approval.session,
        reply_to=approval.reply_to,
        text=f'Your request {approval.id} to create the agent "{approval.name}" was '
        f"{verdict} by {handle}."
        + (f' You can now message it with send_message(to="{approval.name}").' if approve else ""),
    )
    ctx.emits.append(emits.agent_input(ctx.turn, ctx.next_id("approval-note"), note, hops=0))
    if approve:
        return f'Approved: the agent "{approval.name}" now exists.'
    return f'Rejected: the agent "{approval.name}" will not be created.'
