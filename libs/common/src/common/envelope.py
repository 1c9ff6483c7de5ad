"""The envelope every lane entry travels in: ids, trace id, timestamps, payload.

An entry is stored as one stream field ``e`` holding the envelope as JSON. ``id`` is the
deterministic id of the effect the entry represents; publishing the same id twice on a
lane is a no-op, which is what makes retries safe (G4).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import PermanentError


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_trace_id() -> str:
    return uuid.uuid4().hex


def derive_id(*parts: str) -> str:
    """A deterministic id from the ids it is derived from (same inputs, same id)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    trace_id: str
    accepted_ms: int = Field(description="when ingest accepted the message this descends from")
    created_ms: int = Field(default_factory=now_ms)
    payload: dict[str, Any]

    def encode(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def child(self, id: str, kind: str, payload: dict[str, Any]) -> Envelope:
        """An envelope caused by this one: same trace and acceptance time."""
        return Envelope(
            id=id,
            kind=kind,
            trace_id=self.trace_id,
            accepted_ms=self.accepted_ms,
            payload=payload,
        )


def decode(data: bytes | str) -> Envelope:
    """Parse an envelope; anything malformed is permanent (it goes to dead letters)."""
    try:
        return Envelope.model_validate_json(data)
    except ValidationError as exc:
        raise PermanentError(f"malformed envelope: {exc.error_count()} errors") from exc
