"""The envelope's wire form: what it encodes to, and what decoding refuses."""

from __future__ import annotations

import orjson
import pytest

from common.envelope import Envelope, decode
from common.errors import PermanentError
from common.messages import Sender


def test_round_trip_and_child() -> None:
    env = Envelope(id="m1", kind="inbound", trace_id="t1", accepted_ms=5, payload={"a": [1, "x"]})
    back = decode(env.encode())
    assert back == env
    child = env.child("m2", "agent_input", {"b": None})
    assert (child.trace_id, child.accepted_ms, child.kind) == ("t1", 5, "agent_input")
    assert child.created_ms >= env.created_ms


def test_a_model_left_in_a_payload_is_encoded_as_json() -> None:
    env = Envelope(id="m", kind="k", trace_id="t", accepted_ms=0, payload={"s": Sender(id="u")})
    assert orjson.loads(env.encode())["payload"]["s"] == {"id": "u", "name": None, "is_bot": False}


def test_created_time_defaults_when_absent() -> None:
    raw = {"id": "m", "kind": "k", "trace_id": "t", "accepted_ms": 1, "payload": {}}
    assert decode(orjson.dumps(raw)).created_ms > 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "a list, not an object"),
        (b'{"id": "m", "kind": "k", "trace_id": "t", "accepted_ms": 1}', "payload"),
        (b'{"id": 3, "kind": "k", "trace_id": "t", "accepted_ms": 1, "payload": {}}', "id"),
        (
            b'{"id": "m", "kind": "k", "trace_id": "t", "accepted_ms": true, "payload": {}}',
            "accepted_ms",
        ),
        (
            b'{"id": "m", "kind": "k", "trace_id": "t", "accepted_ms": 1, "payload": {},'
            b' "created_ms": "soon"}',
            "created_ms",
        ),
    ],
)
def test_malformed_envelopes_are_permanent_errors(data: bytes, reason: str) -> None:
    with pytest.raises(PermanentError, match=reason):
        decode(data)
