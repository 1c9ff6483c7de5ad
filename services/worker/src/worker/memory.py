"""An agent's memory: one text document in Redis, shared by all the agent's sessions.

The agent reads it in its prompt and changes it with ``update_memory``; admins read and
edit it with ``clawbus memory``. A run's edits are applied at its commit to the document
as it is then, so edits made meanwhile by another session of the agent are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from redis.asyncio.client import Pipeline

log = logging.getLogger("clawbus.worker")

MEMORY_LIMIT = 16_000  # characters


class MemoryEditError(ValueError):
    """An edit that cannot apply (its old text is not in the document, or it is too long)."""


@dataclass(frozen=True, slots=True)
class MemoryEdit:
    mode: Literal["replace", "append", "edit"]
    text: str
    old_text: str = ""

    def apply(self, doc: str) -> str:
        if self.mode == "replace":
            new = self.text
        elif self.mode == "append":
            new = f"{doc.rstrip()}\n{self.text}" if doc.strip() else self.text
        else:
            if not self.old_text or self.old_text not in doc:
                raise MemoryEditError("old_text does not occur in the memory document")
            new = doc.replace(self.old_text, self.text, 1)
        if len(new) > MEMORY_LIMIT:
            raise MemoryEditError(
                f"the memory document would have {len(new)} characters; the limit is "
                f"{MEMORY_LIMIT}: shorten it"
            )
        return new


def _text(raw: bytes | str | None) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw or ""


@dataclass
class MemoryWrite:
    """A run's memory edits (a ``StateOp``), re-applied to the current document."""

    key: str
    edits: list[MemoryEdit] = field(default_factory=list)
    _new: str = ""

    def watch(self) -> list[str]:
        return [self.key]

    async def read(self, pipe: Pipeline) -> None:
        doc = _text(await pipe.get(self.key))
        for edit in self.edits:
            try:
                doc = edit.apply(doc)
            except MemoryEditError as exc:
                log.warning("memory edit dropped", extra={"key": self.key, "error": str(exc)})
        self._new = doc

    def write(self, pipe: Pipeline) -> None:
        pipe.set(self.key, self._new)
