"""The envelopes a turn causes, for the deliver, agent and control lanes.

Every one is a child of the turn's latest input (same trace id and acceptance time) and
carries an id derived from the turn's run id, so a retried run re-emits the same ids and
the lanes drop the repeats.
"""

from __future__ import annotations

import orjson

from common.bus.writer import Emit
from common.envelope import Envelope, payload_of
from common.keys import Stage
from common.messages import AgentInput, OutboundMessage, TaskCommand
from worker.turn import HOPS, Turn


def outbound(turn: Turn, out: OutboundMessage) -> Emit:
    env = turn.last.envelope.child(out.id, "outbound", payload_of(out))
    return Emit(Stage.DELIVER, out.destination.lane, env)


def agent_input(turn: Turn, id: str, inp: AgentInput, *, hops: int) -> Emit:
    payload = payload_of(inp) | {HOPS: hops}
    return Emit(Stage.AGENT, inp.session, turn.last.envelope.child(id, "agent_input", payload))


def control(turn: Turn, id: str, cmd: TaskCommand) -> Emit:
    env = turn.last.envelope.child(id, "task_command", payload_of(cmd))
    return Emit(Stage.CONTROL, turn.agent, env)


def encode(emits: list[Emit]) -> bytes:
    return orjson.dumps(
        [{"stage": e.stage.value, "lane": e.lane, "envelope": e.envelope.as_dict()} for e in emits]
    )


def decode(raw: bytes | str) -> list[Emit]:
    return [
        Emit(Stage(item["stage"]), item["lane"], Envelope.from_dict(item["envelope"]))
        for item in orjson.loads(raw)
    ]
