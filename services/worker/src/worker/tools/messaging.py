"""Tools that talk: send_message, edit_message, add_reaction, ask_user_question."""

from __future__ import annotations

from pydantic import Field

from common.messages import Button, OutboundMessage
from worker import emits
from worker.context import RunContext, ToolError
from worker.outbox import send_text
from worker.tools.base import Args, Tool

TO = "a destination name from your list; leave empty for the current chat"


class SendArgs(Args):
    text: str = Field(min_length=1, description="the message")
    to: str = Field(default="", description=TO)


async def send_message(ctx: RunContext, args: SendArgs) -> str:
    msg_id = await send_text(ctx, ctx.resolve(args.to), args.text)
    return f"sent (message id {msg_id})"


class EditArgs(Args):
    message_id: str = Field(description="id of one of your messages, as send_message returned it")
    text: str = Field(min_length=1, description="the new text")
    to: str = Field(default="", description=TO)


async def edit_message(ctx: RunContext, args: EditArgs) -> str:
    out = OutboundMessage(
        id=ctx.next_id("edit"),
        action="edit",
        destination=ctx.chat(args.to),
        agent=ctx.name,
        session=ctx.turn.session,
        text=args.text,
        target_id=args.message_id,
    )
    ctx.emits.append(emits.outbound(ctx.turn, out))
    return f"edit of {args.message_id} queued"


class ReactArgs(Args):
    message_id: str = Field(description="id of the message to react to")
    emoji: str = Field(min_length=1, description="an emoji, e.g. 👍, or a shortcode like thumbsup")
    to: str = Field(default="", description=TO)


async def add_reaction(ctx: RunContext, args: ReactArgs) -> str:
    out = OutboundMessage(
        id=ctx.next_id("react"),
        action="react",
        destination=ctx.chat(args.to),
        agent=ctx.name,
        session=ctx.turn.session,
        target_id=args.message_id,
        emoji=args.emoji,
    )
    ctx.emits.append(emits.outbound(ctx.turn, out))
    return f"reaction {args.emoji} on {args.message_id} queued"


class AskArgs(Args):
    question: str = Field(min_length=1)
    options: list[str] = Field(min_length=2, max_length=10, description="the answers to offer")
    to: str = Field(default="", description=TO)


async def ask_user_question(ctx: RunContext, args: AskArgs) -> str:
    options = [o.strip() for o in args.options if o.strip()]
    if len(set(options)) < 2:
        raise ToolError("give at least two different options")
    buttons = [Button(label=o, value=o) for o in dict.fromkeys(options)]
    msg_id = await send_text(ctx, ctx.chat(args.to), args.question, buttons=buttons)
    return (
        f"question sent (message id {msg_id}). The answer arrives later as an ordinary "
        "message; do not wait for it in this turn."
    )


TOOLS = [
    Tool(
        "send_message",
        "Send a message now, to the current chat or to a destination from your list "
        "(another chat, or another agent). Returns the message id.",
        SendArgs,
        send_message,
    ),
    Tool(
        "edit_message", "Replace the text of one of your earlier messages.", EditArgs, edit_message
    ),
    Tool("add_reaction", "React to a message with an emoji.", ReactArgs, add_reaction),
    Tool(
        "ask_user_question",
        "Ask a question with buttons for the answers. Nothing waits: the chosen answer "
        "arrives later as an ordinary message.",
        AskArgs,
        ask_user_question,
    ),
]
