"""create_agent: ask the admins to approve a new agent; nothing exists until they do.

The request is posted as a card with Approve / Reject buttons in the current chat; the
button answers arrive as the messages ``/approve ID`` and ``/reject ID``, which count only
from an owner or admin (see ``commands``). An approved agent can message its creator as
``parent``; the creator reaches it by its name.
"""

from __future__ import annotations

from pydantic import Field

from common.config import ALL_TOOLS, AgentConfig
from common.messages import Button
from worker.approvals import Approval, RequestApproval
from worker.context import RunContext, ToolError
from worker.outbox import send_text
from worker.tools.base import Args, Tool
from worker.turn import is_agent


class CreateAgentArgs(Args):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$", description="short lowercase id")
    system_prompt: str = Field(min_length=1, description="the new agent's instructions")
    description: str = Field(default="", description="one line about what it does")
    model: str = Field(default="", description="empty: the same model as yours")
    tools: list[str] = Field(
        default_factory=list, description="tools to give it, from your own; empty: yours"
    )


def card(approval: Approval) -> str:
    spec = approval.spec
    return "\n".join(
        [
            f'Agent {approval.agent} asks to create a new agent "{approval.name}".',
            f"Description: {spec.description or '-'}",
            f"Model: {spec.model or 'default'}; tools: {', '.join(spec.tools) or 'none'}",
            f"Instructions:\n{spec.system_prompt[:1500]}",
            f"An owner or admin can approve or reject (request {approval.id}).",
        ]
    )


async def create_agent(ctx: RunContext, args: CreateAgentArgs) -> str:
    if ctx.agents.get(args.name) is not None:
        raise ToolError(f"an agent named {args.name!r} already exists")
    own = [t for t in ctx.agent.tools if t != "create_agent"]
    tools = args.tools or own
    if not set(tools) <= set(own):
        raise ToolError(f"you can give only tools you have: {', '.join(own)}")
    chat = ctx.turn.reply_to
    if is_agent(chat):
        raise ToolError("create_agent needs a chat with people, where an admin can approve")
    spec = AgentConfig(
        name=args.name,
        model=args.model or ctx.agent.model,
        provider=ctx.agent.provider,
        base_url=ctx.agent.base_url,
        system_prompt=args.system_prompt,
        description=args.description,
        tools=[t for t in ALL_TOOLS if t in tools],
        destinations={"parent": ctx.name},
    )
    approval = Approval(
        id=ctx.next_id("approval"),
        agent=ctx.name,
        session=ctx.turn.session,
        reply_to=chat,
        name=args.name,
        spec=spec,
        requested_ms=ctx.now_ms,
    )
    ctx.ops.append(RequestApproval(ctx.keys, approval))
    buttons = [
        Button(label="Approve", value=f"/approve {approval.id}"),
        Button(label="Reject", value=f"/reject {approval.id}"),
    ]
    await send_text(ctx, chat, card(approval), buttons=buttons)
    return (
        f"approval {approval.id} requested in this chat. The agent exists only once an admin "
        "approves; a <system> note tells you the decision."
    )


TOOLS = [
    Tool(
        "create_agent",
        "Request a new agent (needs an admin's approval). It can message you as 'parent', "
        "and you can message it by its name.",
        CreateAgentArgs,
        create_agent,
    )
]
