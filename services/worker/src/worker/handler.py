"""The agent stage: a session's queued inputs become one run, under a timeout, committed once.

A batch whose run was already committed (its worker died before the ack) is answered from
the record. A run cut by the timeout, refused by the model API, or still failing on its
last attempt ends with a short, honest message to the user and its entries are acked;
busy answers from the API (429/529) make the lane wait without spending attempts.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from common import metrics
from common.bus import ClaimedLane, Entry
from common.bus.writer import Emit, Staged
from common.errors import RateLimited, RetryableError
from worker.journal import Journal, Outcome
from worker.llm.errors import ModelRejected
from worker.reads import RunReads, claimed_reads, read_run
from worker.runtime import AgentRuntime
from worker.turn import Turn, parse_turn

if TYPE_CHECKING:  # the metric series' types (the client comes with common's metrics)
    from prometheus_client import Counter, Histogram

log = logging.getLogger("clawbus.worker")

TIMEOUT_TEXT = "Sorry, that took too long and was stopped. Please try again."
UNAVAILABLE_TEXT = (
    "Sorry, the model service is not answering right now, so I couldn't reply. "
    "Please try again in a little while."
)


class AgentHandler:
    def __init__(
        self, runtime: AgentRuntime, journal: Journal, *, timeout_s: float, max_attempts: int
    ) -> None:
        self.runtime = runtime
        self.journal = journal
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        # the series a run ends in, per agent and result, looked up once
        self._ended: dict[tuple[str, str], tuple[Histogram, Counter]] = {}

    async def __call__(self, lane: ClaimedLane, entries: list[Entry]) -> list[Emit] | Staged:
        """The turn's outputs: the recorded ones of a run committed before, else this
        run's, staged to be committed with the lane's (or committed here when a change
        must read first)."""
        turn = parse_turn(lane.lane, entries)
        reads = claimed_reads(lane, turn, self.runtime.held)
        if reads is None:
            reads = await read_run(self.journal.batch, self.journal.keys, turn)
        if reads.record is not None:
            log.info("run replayed", extra={"session": turn.session, "run_id": turn.run_id})
            return self.journal.decode(reads.record)
        started = time.monotonic()
        log.info(
            "run started",
            extra={
                "session": turn.session,
                "agent": turn.agent,
                "inputs": len(turn.inputs),
                "attempt": turn.attempt,
                "ts_ns": time.time_ns(),
                "trace_id": turn.last.envelope.trace_id,
            },
        )
        metrics.AGENT_RUNS_IN_FLIGHT.inc()
        result = "error"
        try:
            outcome, result = await self._think(turn, reads)
            staged = self.journal.stage(turn, lane, outcome)
            if staged is not None:
                return staged
            return await self.journal.commit(turn, lane, outcome)
        finally:
            metrics.AGENT_RUNS_IN_FLIGHT.dec()
            elapsed = time.monotonic() - started
            seconds, runs = self._series(turn.agent, result)
            seconds.observe(elapsed)
            runs.inc()
            log.info(
                "run finished",
                extra={
                    "session": turn.session,
                    "agent": turn.agent,
                    "outcome": result,
                    "ts_ns": time.time_ns(),
                    "seconds": round(elapsed, 4),
                },
            )

    def _series(self, agent: str, result: str) -> tuple[Histogram, Counter]:
        series = self._ended.get((agent, result))
        if series is None:
            series = (
                metrics.AGENT_RUN_SECONDS.labels(agent, result),
                metrics.AGENT_RUNS.labels(agent, result),
            )
            self._ended[agent, result] = series
        return series

    async def _think(self, turn: Turn, reads: RunReads) -> tuple[Outcome, str]:
        try:
            deadline = time.monotonic() + self.timeout_s
            async with self.runtime.timers.expiry(deadline):  # no loop timer per run
                outcome = await self.runtime.run(turn, deadline=deadline, reads=reads)
        except TimeoutError:
            return self.runtime.stopped(turn, TIMEOUT_TEXT, keep_inputs=True), "timeout"
        except ModelRejected as exc:
            log.warning(
                "model refused the request", extra={"session": turn.session, "error": str(exc)}
            )
            return self.runtime.stopped(turn, exc.user_text, keep_inputs=False), "error"
        except RetryableError as exc:
            if isinstance(exc, RateLimited) or turn.attempt + 1 < self.max_attempts:
                raise
            log.warning(
                "model unavailable, giving up", extra={"session": turn.session, "error": str(exc)}
            )
            return self.runtime.stopped(turn, UNAVAILABLE_TEXT, keep_inputs=True), "error"
        return outcome, "ok"
