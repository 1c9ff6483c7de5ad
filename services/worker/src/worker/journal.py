"""A run's outcome, committed exactly once: its state changes and the record of its emits.

A run changes nothing in Redis while it thinks. At its end, one atomic step applies every
state change (history, memory, approvals, ...) together with a record of the run's emits
under the run id. A worker that dies before it leaves nothing behind, and the next holder
runs the turn afresh; one that dies after it leaves the record, and the next holder
replays the recorded emits without thinking again (the lanes drop the emits that were
already published).

The atomic step is a script when every change is a blind write (the common case: history
appended, reply address set), and the same script inside an optimistic transaction
(WATCH/MULTI) when a change must read the current value first (memory edits, approval
decisions). The script needs no round trip of its own: ``stage`` hands it to the lane
commit as a precommit, which runs it in one step with the run's publishes and acks and lets
those stand only if this run's record is the one that stands (an earlier holder's record
wins, and its emits are published instead).

The script applies nothing unless the run's lane is still held under the lease the run
was claimed with: a holder that lost its lease (it stalled past the lease, and the next
holder took the turn over) cannot apply the turn a second time, whether or not the next
holder's record is still there. That is what lets a run's record go in the step that acks
its entries: once they are acked no holder can be handed them again, and the record would
only take memory (about a kilobyte a turn, for a day). A staged run's record is not even
written when that step goes through to the ack (see ``Precommit.unwritten``): it is
written only where the step stops short of it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from common.bus import ClaimedLane
from common.bus.writer import Emit, Precommit, Staged
from common.coalesce import Coalescer
from common.errors import Fenced
from common.keys import Keys
from worker import emits as emit_codec
from worker.history import HistoryHeld, HistoryWrite
from worker.turn import Turn

log = logging.getLogger("clawbus.worker")

# A record is needed only between a commit and the ack of its entries (a crash window of
# seconds), and is deleted with that ack; one whose ack was lost (its worker died after the
# commit, and the next holder re-sent its emits) expires: a day covers any retry.
RUN_RECORD_TTL_S = 24 * 3600

# The reply of COMMIT when the run's lane is no longer held under the run's lease.
FENCED = -1

# KEYS[1]: the run record; KEYS[2]: the holders of the run's lane's partition; KEYS[3..]:
# the keys the writes touch.
# ARGV: record value, record ttl (s; 0: the record is left to the lane commit, which writes
# it only if it stops short of the ack), lane, fencing token, then per write: argc,
# command, args...
# Returns FENCED if the lane's holder is no longer the run's (and writes nothing), the prior
# record if the run was committed already (and writes nothing), else false.
COMMIT = """
if redis.call('HGET', KEYS[2], ARGV[3]) ~= ARGV[4] then return -1 end
local prior = redis.call('GET', KEYS[1])
if prior then return prior end
local i = 5
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
if ARGV[2] ~= '0' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return false
"""


class StateOp(Protocol):
    """One state change of a run, applied inside the commit transaction.

    ``read`` runs after ``watch`` keys are watched (it may read current values, e.g. to
    apply an edit to the latest memory); ``write`` queues the writes. A conflicting write
    by someone else re-runs ``read`` and ``write``.
    """

    def watch(self) -> list[str]: ...

    async def read(self, pipe: Pipeline) -> None: ...

    def write(self, pipe: Pipeline) -> None: ...


@dataclass
class Outcome:
    emits: list[Emit] = field(default_factory=list)
    ops: list[StateOp] = field(default_factory=list)


class Journal:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        ttl_s: int = RUN_RECORD_TTL_S,
        batch: Coalescer | None = None,
        held: HistoryHeld | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self.batch = batch or Coalescer(redis)
        self.held = held  # the histories this process wrote last, kept as they stand
        self._commit = redis.register_script(COMMIT)

    @staticmethod
    def decode(record: bytes | str) -> list[Emit]:
        """The emits of a run record as read."""
        return emit_codec.decode(record)

    async def commit(self, turn: Turn, lane: ClaimedLane, outcome: Outcome) -> list[Emit] | Staged:
        """Apply the outcome once, in a transaction of its own (for changes that read
        first; blind ones go through ``stage``); returns the emits to publish (the recorded
        ones if this run was already committed by an earlier holder), this run's staged to
        delete its record with the ack. Raises ``Fenced`` when ``lane``, the run's, is no
        longer held under the lease it was claimed with."""
        record = self.keys.run(turn.session, turn.run_id)
        watched = [record, *(k for op in outcome.ops for k in op.watch())]
        value = emit_codec.encode(outcome.emits)
        self._forget(outcome)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*watched)
                    raw: bytes | str | None = await pipe.get(record)
                    if raw is not None:
                        log.info("run already committed", extra={"session": turn.session})
                        return emit_codec.decode(raw)
                    for op in outcome.ops:
                        await op.read(pipe)
                    keys, argv = self._script_args(record, value, lane, outcome, self.ttl_s)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    # by text: a server that lost its scripts cannot refuse it mid-transaction
                    pipe.eval(COMMIT, len(keys), *keys, *argv)
                    [reply] = await pipe.execute()
                except WatchError:
                    continue
                _raise_if_refused(reply, lane)
                if reply is not None:  # committed by another holder since the GET
                    log.info("run already committed", extra={"session": turn.session})
                    return emit_codec.decode(reply)
                self._remember(outcome)
                return self._recorded(lane, record, value, outcome.emits)

    def _recorded(self, lane: ClaimedLane, record: str, value: bytes, emits: list[Emit]) -> Staged:
        """A committed run's emits, with a precommit that only re-reads its record (the
        script with no writes, under the same lease check): the lane commit then deletes
        the record with the ack, as a staged run's."""

        def recover(reply: Any) -> list[Emit]:
            _raise_if_refused(reply, lane)
            return emits if reply is None or reply == value else emit_codec.decode(reply)

        keys = [record, lane.partition.holders]
        argv = [value, self.ttl_s, lane.lane, lane.token]
        sha = hashlib.sha1(value, usedforsecurity=False).hexdigest()
        return Staged(emits, Precommit((self._commit, keys, argv), record, sha, recover, drop=True))

    def stage(self, turn: Turn, lane: ClaimedLane, outcome: Outcome) -> Staged | None:
        """The outcome as outputs whose record is written in the lane commit's round trip
        (see ``Precommit``), and deleted when the run's entries are acked; None when a
        change must read first (use ``commit``)."""
        if any(op.watch() for op in outcome.ops):
            return None
        record = self.keys.run(turn.session, turn.run_id)
        value = emit_codec.encode(outcome.emits)
        keys, argv = self._script_args(record, value, lane, outcome, 0)

        def recover(reply: Any) -> list[Emit]:
            _raise_if_refused(reply, lane)
            if reply is None:  # this run's record stands after all
                return outcome.emits
            log.info("run already committed", extra={"session": turn.session})
            return emit_codec.decode(reply)

        def landed(reply: Any) -> None:
            if reply is None:  # this run's record and writes stand
                self._remember(outcome)

        sha = hashlib.sha1(value, usedforsecurity=False).hexdigest()
        self._forget(outcome)
        return Staged(
            outcome.emits,
            Precommit(
                (self._commit, keys, argv),
                record,
                sha,
                recover,
                landed,
                unwritten=(value, self.ttl_s),
            ),
        )

    def _forget(self, outcome: Outcome) -> None:
        if self.held is not None:
            self.held.forget(_history_writes(outcome))

    def _remember(self, outcome: Outcome) -> None:
        if self.held is not None:
            self.held.remember(_history_writes(outcome))

    def _script_args(
        self,
        record: str,
        value: bytes,
        lane: ClaimedLane,
        outcome: Outcome,
        ttl_s: int,
    ) -> tuple[list[str], list[Any]]:
        """Keys and arguments of the COMMIT script: the outcome's writes as queued (after
        any reads they depend on); the record kept ``ttl_s`` (0: not written)."""
        recorder = self.redis.pipeline(transaction=False)
        for op in outcome.ops:
            op.write(recorder)
        writes = [args for args, _ in recorder.command_stack]
        keys = [record, lane.partition.holders, *(str(args[1]) for args in writes)]
        argv: list[Any] = [value, ttl_s, lane.lane, lane.token]
        for args in writes:
            argv += [len(args), *args]
        return keys, argv


def _raise_if_refused(reply: Any, lane: ClaimedLane) -> None:
    """Raise what a COMMIT call met: its error, or ``Fenced`` for the lane's lost lease."""
    if isinstance(reply, Exception):
        raise reply
    if reply == FENCED:
        raise Fenced(f"lease on {lane.stage}:{lane.lane} lost before its commit")


def _history_writes(outcome: Outcome) -> list[HistoryWrite]:
    return [op for op in outcome.ops if isinstance(op, HistoryWrite)]


@dataclass
class SetKey:
    """A plain SET as a ``StateOp``."""

    key: str
    value: bytes | str
    ex: int | None = None

    def watch(self) -> list[str]:
        return []

    async def read(self, pipe: Pipeline) -> None:
        return None

    def write(self, pipe: Pipeline) -> None:
        # the command as sent: redis-py's ``set`` weighs a dozen options first, every turn
        expiry = ("EX", self.ex) if self.ex is not None else ()
        pipe.execute_command("SET", self.key, self.value, *expiry)
