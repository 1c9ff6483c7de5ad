"""update_memory: change the agent's memory document (applied when the run commits)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from worker.context import RunContext, ToolError
from worker.memory import MemoryEdit, MemoryEditError
from worker.tools.base import Args, Tool


class MemoryArgs(Args):
    mode: Literal["append", "edit", "replace"] = Field(
        description="append: add text at the end; edit: replace old_text with text; "
        "replace: the whole document becomes text"
    )
    text: str
    old_text: str = Field(default="", description="edit only: the exact text to replace")


async def update_memory(ctx: RunContext, args: MemoryArgs) -> str:
    try:
        doc = ctx.edit_memory(MemoryEdit(args.mode, args.text, args.old_text))
    except MemoryEditError as exc:
        raise ToolError(str(exc)) from exc
    return f"memory updated; it now has {len(doc)} characters"


TOOLS = [
    Tool(
        "update_memory",
        "Change your memory document: facts, preferences and notes worth keeping across "
        "conversations. It is shown to you at the start of every turn.",
        MemoryArgs,
        update_memory,
    )
]
