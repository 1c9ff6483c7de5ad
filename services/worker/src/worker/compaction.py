"""Compaction: the oldest turns of a history summarised by the model, the summary kept."""

from __future__ import annotations

import html

import orjson

from common.ports import ContentBlock, LLMRequest, LLMResponse, ModelMessage
from worker.history import HistoryItem

SUMMARY_MAX_TOKENS = 1024
SUMMARY_SYSTEM = (
    "You keep the running summary of a conversation between people and an assistant. "
    "Rewrite the summary so that it also covers the new part of the transcript. Keep "
    "names, facts, decisions, commitments, open questions, dates and ids that may be "
    "referred to later; drop small talk. Plain text, at most about 300 words. Answer with "
    "the summary only."
)


def _line(block: ContentBlock, role: str) -> str:
    if block.type == "tool_use":
        return f"[{role} called {block.name} {orjson.dumps(block.input or {}).decode()}]"
    if block.type == "tool_result":
        return f"[tool result{' (error)' if block.is_error else ''}: {block.content or ''}]"
    if block.type == "text" and block.text:
        return f"{role}: {block.text}"
    return ""


def transcript(turns: list[HistoryItem]) -> str:
    lines = [
        _line(block, "assistant" if m.role == "assistant" else "input")
        for turn in turns
        for m in turn.messages
        for block in m.content
    ]
    return "\n".join(line for line in lines if line)


def summary_request(model: str, previous: str, turns: list[HistoryItem]) -> LLMRequest:
    text = (
        f"<summary>{html.escape(previous or '(none yet)', quote=False)}</summary>\n"
        f"<transcript>\n{html.escape(transcript(turns), quote=False)}\n</transcript>"
    )
    return LLMRequest(
        model=model,
        system=SUMMARY_SYSTEM,
        messages=[ModelMessage(role="user", content=[ContentBlock(type="text", text=text)])],
        max_tokens=SUMMARY_MAX_TOKENS,
        cache=False,
    )


def summary_text(response: LLMResponse, previous: str) -> str:
    """The new summary; an empty answer keeps the previous one rather than losing it."""
    return response.text.strip() or previous
