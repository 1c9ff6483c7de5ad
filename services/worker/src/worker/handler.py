"""The agent stage: a session's queued inputs become one agent turn, under a timeout."""

from __future__ import annotations

import asyncio
import logging
import time

from common import metrics
from common.bus import ClaimedLane, Entry
from common.bus.writer import Emit
from common.envelope import derive_id
from common.errors import PermanentError
from common.keys import Stage
from common.messages import AgentInput, OutboundMessage
from pydantic import ValidationError

from worker.runtime import AgentRuntime, TurnInput

log = logging.getLogger("clawbus.worker")

TIMEOUT_TEXT = "Sorry, that took too long and was stopped. Please try again."


class AgentHandler:
    def __init__(self, runtime: AgentRuntime, *, timeout_s: float) -> None:
        self.runtime = runtime
        self.timeout_s = timeout_s

    async def __call__(self, lane: ClaimedLane, entries: list[Entry]) -> list[Emit]:
        inputs = []
        for e in entries:
            assert e.envelope is not None
            try:
                inputs.append(TurnInput(e.envelope, AgentInput.model_validate(e.envelope.payload)))
            except ValidationError as exc:
                raise PermanentError(f"not an agent input: {exc.error_count()} errors") from exc
        agent = inputs[0].input.agent
        session = lane.lane
        started = time.monotonic()
        log.info(
            "run started",
            extra={
                "session": session,
                "agent": agent,
                "inputs": len(inputs),
                "ts_ns": time.time_ns(),
                "trace_id": inputs[0].envelope.trace_id,
            },
        )
        metrics.AGENT_RUNS_IN_FLIGHT.inc()
        outcome = "error"
        try:
            emits = await asyncio.wait_for(self.runtime.run(session, inputs), self.timeout_s)
            outcome = "ok"
            return emits
        except TimeoutError:
            outcome = "timeout"
            return [self._timed_out(inputs)]
        finally:
            metrics.AGENT_RUNS_IN_FLIGHT.dec()
            elapsed = time.monotonic() - started
            metrics.AGENT_RUN_SECONDS.labels(agent, outcome).observe(elapsed)
            metrics.AGENT_RUNS.labels(agent, outcome).inc()
            log.info(
                "run finished",
                extra={
                    "session": session,
                    "agent": agent,
                    "outcome": outcome,
                    "ts_ns": time.time_ns(),
                    "seconds": round(elapsed, 4),
                },
            )

    @staticmethod
    def _timed_out(inputs: list[TurnInput]) -> Emit:
        last = inputs[-1]
        out = OutboundMessage(
            id=derive_id(last.envelope.id, "timeout"),
            destination=last.input.reply_to,
            agent=last.input.agent,
            session=last.input.session,
            text=TIMEOUT_TEXT,
        )
        return Emit(
            Stage.DELIVER,
            out.destination.lane,
            last.envelope.child(out.id, "outbound", out.model_dump(mode="json")),
        )
