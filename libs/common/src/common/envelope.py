"""The envelope every lane entry travels in: ids, trace id, timestamps, payload.

An entry is stored as one stream field ``e`` holding the envelope as JSON. ``id`` is the
deterministic id of the effect the entry represents; publishing the same id twice on a
lane is a no-op, which is what makes retries safe (G4).

Every entry is encoded once and decoded once per stage, so the envelope is a plain frozen
dataclass checked field by field, not a pydantic model: the payload inside is validated by
the model of its kind where it is used.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel

from common.errors import PermanentError


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_trace_id() -> str:
    return uuid.uuid4().hex


def derive_id(*parts: str) -> str:
    """A deterministic id from the ids it is derived from (same inputs, same id)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def payload_of(model: BaseModel) -> dict[str, Any]:
    """A model as an envelope carries it: its JSON form with the fields at their defaults
    left out (about a third of an inbound message), which the reader's model fills in
    again. A field's default must therefore keep its meaning from one version to the next.
    """
    return model.model_dump(mode="json", exclude_defaults=True)


def _json_default(value: object) -> object:
    if isinstance(value, BaseModel):  # a model left inside a payload: as its JSON form
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Not frozen, and never changed once made: a frozen dataclass sets each field through
# object.__setattr__, four times the cost of a plain one, and every stage makes an
# envelope per entry it decodes and per output it emits.
@dataclass(slots=True)
class Envelope:
    id: str
    kind: str
    trace_id: str
    accepted_ms: int  # when ingest accepted the message this descends from
    payload: dict[str, Any]
    created_ms: int = field(default_factory=now_ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "trace_id": self.trace_id,
            "accepted_ms": self.accepted_ms,
            "created_ms": self.created_ms,
            "payload": self.payload,
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.as_dict(), default=_json_default)

    def child(self, id: str, kind: str, payload: dict[str, Any]) -> Envelope:
        """An envelope caused by this one: same trace and acceptance time."""
        return Envelope(id, kind, self.trace_id, self.accepted_ms, payload)

    @classmethod
    def from_dict(cls, raw: object) -> Envelope:
        """An envelope from its JSON form; anything malformed is permanent (it goes to
        dead letters)."""
        if type(raw) is dict:
            id_, kind, trace_id = raw.get("id"), raw.get("kind"), raw.get("trace_id")
            accepted, payload, made = (
                raw.get("accepted_ms"),
                raw.get("payload"),
                raw.get("created_ms"),
            )
            if (
                type(id_) is str
                and type(kind) is str
                and type(trace_id) is str
                and type(accepted) is int
                and type(payload) is dict
                and type(made) is int
            ):  # as every envelope is written: checked in one expression
                return cls(id_, kind, trace_id, accepted, payload, made)
        elif not isinstance(raw, dict):
            raise PermanentError(f"malformed envelope: a {type(raw).__name__}, not an object")
        problems = [name for name, kind in _FIELDS if type(raw.get(name)) is not kind]
        created = raw.get("created_ms", _UNSET)
        if created is not _UNSET and type(created) is not int:
            problems.append("created_ms")
        if problems:
            raise PermanentError(f"malformed envelope: missing or mistyped {', '.join(problems)}")
        return cls(
            raw["id"],
            raw["kind"],
            raw["trace_id"],
            raw["accepted_ms"],
            raw["payload"],
            now_ms() if created is _UNSET else created,
        )


_UNSET = object()
_FIELDS: tuple[tuple[str, type], ...] = (
    ("id", str),
    ("kind", str),
    ("trace_id", str),
    ("accepted_ms", int),
    ("payload", dict),
)


def decode(data: bytes | str) -> Envelope:
    """Parse an envelope; anything malformed is permanent (it goes to dead letters)."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PermanentError(f"malformed envelope: not JSON ({exc})") from exc
    return Envelope.from_dict(raw)
