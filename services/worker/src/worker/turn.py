"""A turn: the queued inputs of one session, and the run id every effect derives from.

The lane hands a re-delivered batch over exactly as it was first read, so the same entries
give the same run id, and every id derived from it (replies, tool effects, the recorded
outcome) repeats on a retry instead of doubling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from common.bus import Entry
from common.envelope import Envelope, derive_id
from common.errors import PermanentError
from common.messages import AgentInput, Destination

HOPS = "hops"  # payload key: how many agent-to-agent messages led to this input
AGENT_CHANNEL = "agent"  # pseudo-channel of a Destination that is another agent's session


@dataclass(slots=True)  # one per input of every turn: not frozen (see Envelope), never changed
class TurnInput:
    envelope: Envelope
    input: AgentInput

    @property
    def hops(self) -> int:
        return int(self.envelope.payload.get(HOPS, 0))


@dataclass(frozen=True, slots=True)
class Turn:
    session: str
    inputs: list[TurnInput]
    attempt: int = 0
    run_id: str = field(init=False)  # every effect id derives from it: computed once

    def __post_init__(self) -> None:
        run_id = derive_id("run", self.session, *(i.envelope.id for i in self.inputs))
        object.__setattr__(self, "run_id", run_id)

    @property
    def agent(self) -> str:
        return self.inputs[0].input.agent

    @property
    def last(self) -> TurnInput:
        return self.inputs[-1]

    @property
    def reply_to(self) -> Destination:
        """Where the turn answers: the chat of its most recent input."""
        return self.last.input.reply_to

    @property
    def hops(self) -> int:
        return max(i.hops for i in self.inputs)

    def effect_id(self, *parts: str) -> str:
        return derive_id(self.run_id, *parts)


def parse_turn(session: str, entries: list[Entry]) -> Turn:
    inputs = []
    for e in entries:
        assert e.envelope is not None
        try:
            inputs.append(TurnInput(e.envelope, AgentInput.model_validate(e.envelope.payload)))
        except ValidationError as exc:
            raise PermanentError(f"not an agent input: {exc.error_count()} errors") from exc
    return Turn(session, inputs, attempt=entries[0].attempts)


def is_agent(dest: Destination) -> bool:
    return dest.channel == AGENT_CHANNEL
