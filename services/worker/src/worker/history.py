"""The conversation of a session in Redis: a list of turns, headed by a summary once compacted.

Each list item is one JSON ``HistoryItem``: a ``turn`` (the model messages of one run, from
the user's inputs to the final answer, tool calls included) or the ``summary`` of the
turns that compaction folded away. Writes happen only in a run's commit (see journal).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field
from redis.asyncio.client import Pipeline

from common.ports import ContentBlock, ModelMessage

CHARS_PER_TOKEN = 4  # a rough estimate for English text and JSON; no tokenizer needed


def estimate_tokens(messages: list[ModelMessage]) -> int:
    size = sum(len(m.model_dump_json(exclude_defaults=True)) for m in messages)
    return size // CHARS_PER_TOKEN + 1


class HistoryItem(BaseModel):
    kind: Literal["turn", "summary"] = "turn"
    run: str = ""
    ms: int = 0
    tokens: int = 0
    text: str = Field(default="", description="the summary (kind summary)")
    messages: list[ModelMessage] = Field(default_factory=list)

    @classmethod
    def turn(cls, run: str, ms: int, messages: list[ModelMessage]) -> HistoryItem:
        kept = [_without_images(m) for m in messages if m.content]
        return cls(run=run, ms=ms, tokens=estimate_tokens(kept), messages=kept)

    @classmethod
    def summary(cls, run: str, ms: int, text: str) -> HistoryItem:
        return cls(
            kind="summary", run=run, ms=ms, tokens=len(text) // CHARS_PER_TOKEN + 1, text=text
        )


def _without_images(message: ModelMessage) -> ModelMessage:
    """Images are shown to the model in their turn only; history keeps a note of them."""
    if all(b.type != "image" for b in message.content):
        return message
    blocks = [
        b if b.type != "image" else ContentBlock(type="text", text="[an image was shown here]")
        for b in message.content
    ]
    return message.model_copy(update={"content": blocks})


@dataclass
class History:
    items: list[HistoryItem] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return self.items[0].text if self.items and self.items[0].kind == "summary" else ""

    @property
    def turns(self) -> list[HistoryItem]:
        return [i for i in self.items if i.kind == "turn"]

    def tokens(self) -> int:
        return sum(i.tokens for i in self.items)

    def messages(self) -> list[ModelMessage]:
        return [m for turn in self.turns for m in turn.messages]

    def to_fold(self, budget: int) -> int:
        """How many of the oldest turns to summarise: none while under ``budget``, else
        enough that the turns kept fit in half of it (the latest turn always stays)."""
        if self.tokens() <= budget:
            return 0
        turns = self.turns
        keep, kept_tokens = 0, 0
        for turn in reversed(turns):
            if keep and kept_tokens + turn.tokens > budget // 2:
                break
            kept_tokens += turn.tokens
            keep += 1
        return len(turns) - keep


def merge_roles(messages: list[ModelMessage]) -> list[ModelMessage]:
    """Consecutive messages of one role joined into one (silent turns have no answer)."""
    out: list[ModelMessage] = []
    for m in messages:
        if out and out[-1].role == m.role:
            out[-1] = ModelMessage(role=m.role, content=[*out[-1].content, *m.content])
        else:
            out.append(m)
    return out


class HistoryStore:
    """Parses sessions' histories as the run's reads fetched them."""

    def __init__(self, *, cache_items: int = 4096) -> None:
        # Every run reads its session's whole history, and all but the newest items were
        # parsed by the runs before: an item's JSON never changes once written, so its
        # parse is kept (items are read-only everywhere), least recently used out first.
        self._item = functools.lru_cache(maxsize=cache_items)(HistoryItem.model_validate_json)

    def parse(self, raw: list[bytes] | list[bytes | str]) -> History:
        """A history from its list as read."""
        return History([self._item(r) for r in raw])


@dataclass
class HistoryWrite:
    """The history change of one run (a ``StateOp``): clear, fold into a summary, append."""

    key: str
    clear: bool = False
    drop: int = 0
    summary: HistoryItem | None = None
    append: list[HistoryItem] = field(default_factory=list)

    def watch(self) -> list[str]:
        return []

    async def read(self, pipe: Pipeline) -> None:
        return None

    def write(self, pipe: Pipeline) -> None:
        if self.clear:
            pipe.delete(self.key)
        elif self.drop:
            pipe.ltrim(self.key, self.drop, -1)
        if self.summary is not None:
            pipe.lpush(self.key, self.summary.model_dump_json())
        if self.append:
            pipe.rpush(self.key, *(i.model_dump_json() for i in self.append))
