"""The conversation of a session in Redis: a list of turns, headed by a summary once compacted.

Each list item is one JSON ``HistoryItem``: a ``turn`` (the model messages of one run, from
the user's inputs to the final answer, tool calls included) or the ``summary`` of the
turns that compaction folded away. Writes happen only in a run's commit (see journal).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field
from redis.asyncio.client import Pipeline

from common.ports import ContentBlock, ModelMessage

V = TypeVar("V")

CHARS_PER_TOKEN = 4  # a rough estimate for English text and JSON; no tokenizer needed


class HistoryItem(BaseModel):
    """One item of the list, written without the fields at their defaults (a text block
    would otherwise carry eight empty ones: about 130 bytes)."""

    kind: Literal["turn", "summary"] = "turn"
    run: str = ""
    ms: int = 0
    tokens: int = 0
    text: str = Field(default="", description="the summary (kind summary)")
    messages: list[ModelMessage] = Field(default_factory=list)

    @classmethod
    def turn(cls, run: str, ms: int, messages: list[ModelMessage]) -> HistoryItem:
        return cls.encoded_turn(run, ms, messages)[0]

    @classmethod
    def encoded_turn(
        cls, run: str, ms: int, messages: list[ModelMessage]
    ) -> tuple[HistoryItem, bytes]:
        """A turn item and its JSON as written, serialized once: its token estimate is
        the size of that JSON, and goes in as a member put first (a reader takes the
        members in any order)."""
        kept = [_without_images(m) for m in messages if m.content]
        item = cls(run=run, ms=ms, messages=kept)
        body = item.model_dump_json(exclude_defaults=True)  # without tokens: still 0
        item.tokens = len(body) // CHARS_PER_TOKEN + 1
        rest = "}" if body == "{}" else f",{body[1:]}"
        return item, f'{{"tokens":{item.tokens}{rest}'.encode()

    @classmethod
    def summary(cls, run: str, ms: int, text: str) -> HistoryItem:
        return cls(
            kind="summary", run=run, ms=ms, tokens=len(text) // CHARS_PER_TOKEN + 1, text=text
        )

    def encode(self) -> bytes:
        """The item as written to the list."""
        return self.model_dump_json(exclude_defaults=True).encode()


def _without_images(message: ModelMessage) -> ModelMessage:
    """Images are shown to the model in their turn only; history keeps a note of them."""
    if all(b.type != "image" for b in message.content):
        return message
    blocks = [
        b if b.type != "image" else ContentBlock(type="text", text="[an image was shown here]")
        for b in message.content
    ]
    return message.model_copy(update={"content": blocks})


class History:
    """A session's history as parsed, with what every run derives from it (its tokens and
    its turns' messages with consecutive roles merged) worked out once. Read-only: a longer
    history is a new one (``extended``), which shares the items and copies two lists: the
    worker's caches keep a history per session, and the collector walks every list they
    keep."""

    __slots__ = ("_merged", "_tokens", "items")

    def __init__(self, items: Sequence[HistoryItem] = ()) -> None:
        self.items = list(items)
        self._tokens = sum(i.tokens for i in self.items)
        self._merged = merge_roles([m for turn in self.turns for m in turn.messages])

    @property
    def turns(self) -> list[HistoryItem]:
        """The turn items (all but a summary at the head), worked out when asked: only a
        history past its budget is asked (``to_fold``, compaction)."""
        return [i for i in self.items if i.kind == "turn"]

    @property
    def summary(self) -> str:
        return self.items[0].text if self.items and self.items[0].kind == "summary" else ""

    def tokens(self) -> int:
        return self._tokens

    def messages(self) -> list[ModelMessage]:
        """The turns' messages, consecutive ones of a role merged (``merge_roles``)."""
        return list(self._merged)

    def extended(self, turns: Sequence[HistoryItem]) -> History:
        """This history with ``turns`` appended, derived from this one's work."""
        if any(t.kind != "turn" for t in turns):
            return History([*self.items, *turns])
        out = History.__new__(History)
        out.items = [*self.items, *turns]
        out._tokens = self._tokens + sum(t.tokens for t in turns)
        out._merged = merge_roles([m for t in turns for m in t.messages], onto=self._merged)
        return out

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


def merge_roles(
    messages: Sequence[ModelMessage], *, onto: Sequence[ModelMessage] = ()
) -> list[ModelMessage]:
    """Consecutive messages of one role joined into one (silent turns have no answer),
    after ``onto``: messages merged already, as this function leaves them."""
    out: list[ModelMessage] = list(onto)
    for m in messages:
        if out and out[-1].role == m.role:
            out[-1] = ModelMessage(role=m.role, content=[*out[-1].content, *m.content])
        else:
            out.append(m)
    return out


class HistoryStore:
    """Parses sessions' histories as the run's reads fetched them.

    Every run reads its session's whole history, and all but the newest items were parsed
    by the runs before: an item's JSON never changes once written, so its parse is kept
    (items are read-only everywhere), and so is each session's last ``History``, which a
    history that only grew since extends by its new items. At most ``cache_items`` items
    are kept each way, least recently used out first.
    """

    def __init__(self, *, cache_items: int = 4096) -> None:
        self.cache_items = cache_items
        self._items: OrderedDict[bytes | str, HistoryItem] = OrderedDict()
        self._sessions: _Kept[History] = _Kept(cache_items)

    def parse(self, raw: Sequence[bytes | str], session: str = "") -> History:
        """A history from its list as read (``session``'s, if given)."""
        known = self._sessions.get(session) if session else None
        history: History | None = None
        if known is not None:
            seen, parsed = known
            n = len(seen)
            if n <= len(raw) and seen == raw[:n]:  # the same items, mostly the same objects
                history = (
                    parsed.extended([self._item(r) for r in raw[n:]]) if n < len(raw) else parsed
                )
        if history is None:
            history = History([self._item(r) for r in raw])
        if session:
            self._sessions.put(session, list(raw), history)
        return history

    def learn(self, write: HistoryWrite) -> None:
        """The items ``write`` adds, as their JSON will be read back: parsed already."""
        summary, append = write.encoded()
        if summary is not None and write.summary is not None:
            self._put(summary, write.summary)
        for data, item in zip(append, write.append, strict=True):
            self._put(data, item)

    def _item(self, raw: bytes | str) -> HistoryItem:
        item = self._items.get(raw)
        if item is None:
            item = HistoryItem.model_validate_json(raw)
            self._put(raw, item)
        else:
            self._items.move_to_end(raw)
        return item

    def _put(self, raw: bytes | str, item: HistoryItem) -> None:
        if self.cache_items <= 0:
            return
        self._items[raw] = item
        self._items.move_to_end(raw)
        while len(self._items) > self.cache_items:
            self._items.popitem(last=False)


@dataclass
class HistoryWrite:
    """The history change of one run (a ``StateOp``): clear, fold into a summary, append.

    A change also records ``writer`` (the writers hash, and the id of this worker process)
    as the session's last writer, in the same atomic step, if that process will keep the
    list it leaves (at most ``keeps`` items); else it clears the record, and the next claim
    sends the list whole. ``before`` is the list the run started from, as read, when
    known: with it the list the change leaves can be worked out without reading it back
    (``after``).
    """

    key: str
    session: str = ""
    clear: bool = False
    drop: int = 0
    summary: HistoryItem | None = None
    append: list[HistoryItem] = field(default_factory=list)
    writer: tuple[str, str] | None = None
    keeps: int = 0
    before: Sequence[bytes] | None = None
    _encoded: tuple[bytes | None, list[bytes]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _raw: dict[int, bytes] = field(default_factory=dict, init=False, repr=False, compare=False)

    def add_turn(self, run: str, ms: int, messages: list[ModelMessage]) -> HistoryItem:
        """Append a turn (``HistoryItem.turn``), keeping the JSON it was made with."""
        item, raw = HistoryItem.encoded_turn(run, ms, messages)
        self.append.append(item)
        self._raw[id(item)] = raw  # the item stays in ``append``: its id is not reused
        return item

    def watch(self) -> list[str]:
        return []

    async def read(self, pipe: Pipeline) -> None:
        return None

    def changes(self) -> bool:
        return self.clear or bool(self.drop) or self.summary is not None or bool(self.append)

    def write(self, pipe: Pipeline) -> None:
        summary, append = self.encoded()
        if self.clear:
            pipe.delete(self.key)
        elif self.drop:
            pipe.ltrim(self.key, self.drop, -1)
        if summary is not None:
            pipe.lpush(self.key, summary)
        if append:
            pipe.rpush(self.key, *append)
        if self.writer is not None and self.changes():
            left = self.after()
            if left is not None and len(left) <= self.keeps:
                pipe.hset(self.writer[0], self.session, self.writer[1])
            else:  # not kept: the next claim must send it whole
                pipe.hdel(self.writer[0], self.session)

    def after(self) -> list[bytes] | None:
        """The list this change leaves (None if the list it found is not known)."""
        if self.before is None and not self.clear:
            return None
        summary, append = self.encoded()
        items = [] if self.clear or self.before is None else list(self.before[self.drop :])
        if summary is not None:
            items.insert(0, summary)
        return items + append

    def encoded(self) -> tuple[bytes | None, list[bytes]]:
        """The summary and the appended turns as written (encoded once)."""
        if self._encoded is None:
            summary = self.summary.encode() if self.summary else None
            raw = self._raw
            self._encoded = (summary, [raw.get(id(i)) or i.encode() for i in self.append])
        return self._encoded


class HistoryHeld:
    """The histories this worker process wrote last, as it wrote them.

    Every history change records its writer (``HistoryWrite.writer``), and a claim that
    finds this process recorded as a session's last writer sends the list's length instead
    of the list (``StateReads``). Only the holder of a session's lane writes its history,
    so while this process is its last writer the list is the one kept here; a list is
    forgotten before a change of it is committed and kept again once the change stands.
    At most ``items`` entries are kept across sessions, least recently used out first.
    """

    def __init__(self, items: int) -> None:
        self.writer = uuid.uuid4().hex
        self.items = items
        self._lists: _Kept[list[bytes]] = _Kept(items)

    def get(self, session: str, length: int) -> list[bytes] | None:
        kept = self._lists.get(session)
        if kept is None or len(kept[1]) != length:
            return None
        return kept[1]

    def forget(self, writes: Sequence[HistoryWrite]) -> None:
        """Before ``writes`` are committed: their sessions' lists are not known any more."""
        for w in writes:
            if w.changes():
                self._lists.drop(w.session)

    def remember(self, writes: Sequence[HistoryWrite]) -> None:
        """``writes`` stand: keep the lists they leave."""
        for w in writes:
            items = w.after() if w.changes() else None
            if items is not None:
                self._lists.put(w.session, items, items)


class _Kept(Generic[V]):
    """A value per session with the list it stands for, at most ``limit`` list items in all
    (an empty list counts as one, so that sessions with no history cannot pile up
    uncounted), least recently used out first; a list longer than the limit is not kept."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: OrderedDict[str, tuple[Sequence[object], V]] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, session: str) -> tuple[Sequence[object], V] | None:
        kept = self._kept.get(session)
        if kept is not None:
            self._kept.move_to_end(session)
        return kept

    def put(self, session: str, items: Sequence[object], value: V) -> None:
        self.drop(session)
        if len(items) > self.limit:
            return
        self._kept[session] = (items, value)
        self._count += max(1, len(items))
        while self._count > self.limit and self._kept:
            _, (old, _) = self._kept.popitem(last=False)
            self._count -= max(1, len(old))

    def drop(self, session: str) -> None:
        old = self._kept.pop(session, None)
        if old is not None:
            self._count -= max(1, len(old[0]))
