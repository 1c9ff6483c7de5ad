"""Lanes: ordered, exclusively-held queues of work per key, on Redis Streams.

A lane is a stream with its own consumer group ``g`` and one consumer name ``c``: the
lease decides who may read, so a new holder of a lane that went back with entries read
(released, handed back, its holder dead) reads the group's pending entries (``0``) before
new ones (``>``) and resumes exactly where the last holder stopped.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

from common import wire as wires
from common.bus import scripts
from common.envelope import Envelope, decode
from common.errors import Fenced, PermanentError
from common.keys import Keys, Partition, Stage

BELL_DEPTH = 64
# The most entries one lane script takes or hands over (a claim: entries and list items
# read, stopping after the lane that reaches it). Redis does nothing else while a script
# runs, and on Redis 6.2 a call's cost grows with the square of its strings when they are
# alike (see ``scripts.CLAIM``).
SCRIPT_STRINGS = 128
# How often, at most, one bus's claims of a stage look for leases (and agent slots) that
# expired, their holders dead, and at least four times a lease: when every claim looked,
# that was a range read per claim.
EXPIRY_SCAN_S = 0.25


@dataclass(slots=True)
class Entry:
    id: str
    raw: bytes
    attempts: int
    envelope: Envelope | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StateReads:
    """State a claim reads for each lane it hands over, in its own round trip (see
    ``scripts.CLAIM``): the list at ``list_prefix`` + the lane, the string at
    ``value_prefix`` + the lane's name up to its first ``|``, and once the hash
    ``hash_key``. A list whose last writer the hash ``writers_key`` records as ``writer``
    (the claimer) comes back as its length only. Like every key, they carry the install's
    hash tag: the claim stays in one slot."""

    list_prefix: str
    value_prefix: str
    hash_key: str
    writers_key: str = ""
    writer: str = ""


@dataclass(frozen=True, slots=True)
class LaneState:
    """What a claim with ``StateReads`` read for one lane, as it stood at the claim:
    ``items`` is None when the claimer wrote the list last (only its ``length`` came)."""

    items: list[bytes] | None
    length: int
    value: bytes | None
    table: dict[bytes, bytes]


@dataclass(slots=True)
class ClaimedLane:
    stage: Stage
    partition: Partition
    lane: str
    token: str
    entries: list[Entry]
    claimed_ms: int
    lost: bool = field(default=False)
    # the entries were read before, by a holder that did not ack them (or handed them back)
    redelivered: bool = field(default=False)
    state: LaneState | None = field(default=None)


ScriptCall = tuple[AsyncScript, list[str], list[Any]]


@dataclass(frozen=True, slots=True)
class GuardedFinish:
    """A lane's finish that stands only if its precommit's record does: ``precommit`` runs
    first and sets ``key`` unless it is set already; ``outputs`` are published and the lane
    finished only if ``key`` then holds the value whose SHA1 is ``sha``, all in one step
    (``scripts.settle``). With ``drop``, ``key`` is deleted once ``ids`` are acked. With
    ``unwritten`` (the value and its time to live, seconds; it implies ``drop``), a
    precommit that answers false left ``key`` unset, and the value is written only where
    the step stops short of the ack."""

    precommit: ScriptCall
    key: str
    sha: str
    outputs: Mapping[Stage, Sequence[tuple[str, Envelope]]]
    lane: ClaimedLane
    ids: Sequence[str]
    release: bool
    drop: bool = False
    unwritten: tuple[bytes, int] | None = None


@dataclass(frozen=True, slots=True)
class Committed:
    """What ``LaneBus.commit`` did: the stages whose publish Redis refused (with why),
    and per finish -1 (fenced), 1, 2 (re-armed) or the error it met. Per guarded finish:
    its precommit's reply (or the step's error) and its finish's result, -2 if another
    record stood (nothing published, nothing acked). A publish refused there fails the
    step: nothing acked, what the precommit and any publish before it wrote standing."""

    refused: dict[Stage, Exception]
    finished: list[int | Exception]
    guarded: list[tuple[Any, int | Exception]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SlotClaim:
    """A semaphore a claim takes a slot from for each lane it takes (see ``scripts.CLAIM``
    and ``common.semaphore``): its sorted set, its cap, a slot's lease and the prefix of
    the holders' names. The set carries the install's hash tag like every key."""

    key: str
    cap: int
    ttl_ms: int
    prefix: str


class Claim(NamedTuple):
    """What ``LaneBus.claim_and`` took: the lanes; whether it stopped at
    ``SCRIPT_STRINGS`` with ready lanes left (claim again at once); with a ``SlotClaim``,
    each lane's slot and the slots left free after the claim."""

    lanes: list[ClaimedLane]
    more: bool
    slots: list[str]
    room: int | None


@dataclass(frozen=True, slots=True)
class LaneStats:
    backlog: int
    oldest_age_s: float
    ready: int
    active: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    id: str
    lane: str
    stage: str
    error: str
    attempts: int
    envelope: bytes


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _table(raw: Any) -> dict[bytes, bytes]:
    """A hash as a script returns it (a flat list of fields and values; false: none)."""
    if not raw:
        return {}
    return {raw[i]: raw[i + 1] for i in range(0, len(raw) - 1, 2)}


def _entry(raw_entry: list[Any], attempts: int) -> Entry:
    entry_id = _s(raw_entry[0])
    fields = raw_entry[1] or []
    data: bytes = b""
    for i in range(0, len(fields) - 1, 2):
        if fields[i] == b"e":
            data = fields[i + 1]
    entry = Entry(id=entry_id, raw=data, attempts=attempts)
    try:
        entry.envelope = decode(data)
    except PermanentError as exc:
        entry.error = str(exc)
    return entry


async def _run_again(script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """A script the server had lost, loaded and run again: an error it answers comes
    back as a result, as it would have the first time."""
    try:
        return await script(keys=keys, args=args)
    except ResponseError as exc:
        return exc


class LaneBus:
    """The only code that issues lane stream commands."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        lease_ttl_s: float = 10.0,
        dedup_window_s: float = 900.0,
        max_attempts: int = 5,
        dlq_maxlen: int = 10_000,
        expiry_scan_s: float = EXPIRY_SCAN_S,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.lease_ttl_ms = int(lease_ttl_s * 1000)
        self.dedup_window_ms = int(dedup_window_s * 1000)
        self.max_attempts = max_attempts
        self.dlq_maxlen = dlq_maxlen
        self._publish = redis.register_script(scripts.PUBLISH)
        self._claim = redis.register_script(scripts.CLAIM)
        self._finish = redis.register_script(scripts.FINISH)
        self._fail = redis.register_script(scripts.FAIL)
        self._handback = redis.register_script(scripts.HANDBACK)
        self._renew = redis.register_script(scripts.RENEW)
        self._replay = redis.register_script(scripts.REPLAY)
        self._settles: dict[str, AsyncScript] = {}  # by the precommit script's SHA1
        self._rotation = 0
        self._rings = 0
        self._scan_s = min(expiry_scan_s, lease_ttl_s / 4)
        self._scanned: dict[Stage, float] = {}  # stage -> when a claim last looked
        self._blocking: list[wires.Wire] = []  # wires of claims that wait for the bell
        self._claims_wire: wires.Wire | None = None  # the claims that do not wait

    async def _pipeline(
        self,
        calls: Sequence[ScriptCall],
        tail: Callable[[Pipeline], object] | None = None,
        head: Callable[[Pipeline], int] | None = None,
        *,
        by_body: int = 0,
        raise_on_error: bool = True,
        wait_s: float = 0.0,
        apart: bool = False,
    ) -> list[Any]:
        """Run scripts (between ``head`` and ``tail`` commands) in one round trip, by sha.

        redis-py's script pipelines ask ``SCRIPT EXISTS`` first, a second round trip every
        time; here a script the server lost (a restart) is loaded and re-run on NOSCRIPT.
        The first ``by_body`` calls are sent with their text (EVAL) and cannot meet
        NOSCRIPT. A ``tail`` is sent again after any re-run, so it still follows the
        scripts. ``head`` queues its commands and returns how many it queued. Without
        ``raise_on_error`` the scripts' errors come back among the results.
        """
        first = 0

        def queue(pipe: Pipeline) -> None:
            nonlocal first
            first = head(pipe) if head is not None else 0
            for i, (script, keys, args) in enumerate(calls):
                if i < by_body:
                    pipe.eval(cast(str, script.script), len(keys), *keys, *args)
                else:
                    pipe.evalsha(script.sha, len(keys), *keys, *args)
            if tail is not None:
                tail(pipe)

        results = await self._send(queue, wait_s, apart=apart)
        results = results[first:]
        rerun = False
        for i, (script, keys, args) in enumerate(calls):
            if isinstance(results[i], NoScriptError):
                results[i] = await _run_again(script, keys, args)
                rerun = True
        if rerun and tail is not None:
            # the tail follows the scripts (a ring must not wake a consumer before the
            # lanes it rings for are ready): run it again after the re-runs
            for reply in await self._send(tail, 0):
                if isinstance(reply, Exception):
                    raise reply
        for result in results if raise_on_error else results[len(calls) :]:
            if isinstance(result, Exception):
                raise result
        return results[: len(calls)]

    async def _send(
        self, queue: Callable[[Pipeline], object], wait_s: float, *, apart: bool = False
    ) -> list[Any]:
        """One pipeline; over the client's wire when it has one (a blocking one on a wire
        of its own, and one ``apart`` on the claims' wire), else through redis-py. Error
        replies come back as objects.

        Claims go apart from commits: Redis answers a connection's commands in order, so
        a claim sent behind a commit of a hundred lanes waited for all of it, and the
        consumer, its lanes done, waited for the claim. On a connection of their own the
        two are read in the same turn of Redis's loop."""
        shared = wires.of(self.redis)
        if shared is None:
            return await wires.send(self.redis, queue)
        if wait_s <= 0:
            if not apart:
                return await wires.send(self.redis, queue)
            if self._claims_wire is None:
                self._claims_wire = shared.spawn()
            return await wires.run(self.redis, self._claims_wire, queue)
        own = self._blocking.pop() if self._blocking else shared.spawn()
        try:
            return await wires.run(self.redis, own, queue, wait_s=wait_s)
        finally:
            self._blocking.append(own)

    # -- producing ---------------------------------------------------------------------

    def _publish_calls(
        self,
        stage: Stage,
        items: Sequence[tuple[str, Envelope]],
        *,
        dedup: bool = True,
    ) -> tuple[list[ScriptCall], list[list[int]]]:
        """The PUBLISH calls for ``items`` (per partition, ``SCRIPT_STRINGS`` items a call)
        and each call's positions."""
        by_partition: dict[int, list[int]] = defaultdict(list)
        for i, (lane, _) in enumerate(items):
            by_partition[self.keys.partition_of(lane)].append(i)
        # in order, SCRIPT_STRINGS at a time: calls run in the pipeline's order
        groups = [
            (index, positions[start : start + SCRIPT_STRINGS])
            for index, positions in by_partition.items()
            for start in range(0, len(positions), SCRIPT_STRINGS)
        ]
        calls = []
        for index, positions in groups:
            part = self.keys.partition(stage, index)
            args: list[Any] = [
                part.lane_prefix,
                part.seen_prefix,
                self.dedup_window_ms if dedup else 0,
            ]
            for pos in positions:
                lane, env = items[pos]
                args += [lane, env.id, env.encode()]
            calls.append((self._publish, part.keys, args))
        return calls, [positions for _, positions in groups]

    async def commit(
        self,
        outputs: Mapping[Stage, Sequence[tuple[str, Envelope]]],
        finishes: Sequence[tuple[ClaimedLane, Sequence[str], bool]],
        tail: Callable[[Pipeline], object] | None = None,
        guarded: Sequence[GuardedFinish] = (),
    ) -> Committed:
        """Publish ``outputs`` and finish lanes (as ``finish_many``) in one round trip,
        with the ``guarded`` finishes, each with its precommit and its outputs in one step
        (``scripts.settle``), in the same one.

        Redis runs a pipeline's commands in order, so no ack runs before the publishes
        queued ahead of it, and a connection lost midway loses the acks, never the
        outputs. The publishes go by script text, so a server that lost its scripts cannot
        refuse them while taking the acks; an ack begins with a write that memory pressure
        refuses, so a server out of memory refuses both. Any other refused publish is
        reported per stage, with its outputs, for the caller to publish again.
        """
        calls: list[ScriptCall] = []
        spans: list[tuple[Stage, int, int]] = []
        for stage, items in outputs.items():
            stage_calls, _ = self._publish_calls(stage, items)
            spans.append((stage, len(calls), len(calls) + len(stage_calls)))
            calls += stage_calls
        published = len(calls)
        for lane, ids, release in finishes:
            calls.append(self._finish_call(lane, ids, release))
        calls += [self._settle_call(g) for g in guarded]
        stages = {*outputs, *(stage for g in guarded for stage in g.outputs)}

        def rings_then_tail(pipe: Pipeline) -> None:
            for stage in stages:
                self._ring(pipe, stage)
            if tail is not None:
                tail(pipe)

        results = await self._pipeline(
            calls, rings_then_tail, by_body=published, raise_on_error=False
        )
        refused: dict[Stage, Exception] = {}
        for stage, start, end in spans:
            for result in results[start:end]:
                if isinstance(result, Exception):
                    refused[stage] = result
        plain = len(finishes)
        finished: list[int | Exception] = [
            r if isinstance(r, Exception) else int(r[0])
            for r in results[published : published + plain]
        ]
        settled: list[tuple[Any, int | Exception]] = [
            (r, r) if isinstance(r, Exception) else (r[1], int(r[0]))
            for r in results[published + plain :]
        ]
        return Committed(refused, finished, settled)

    def _settle_call(self, g: GuardedFinish) -> ScriptCall:
        """A guarded finish as one SETTLE call: its precommit, its outputs' publishes and
        its finish, each with its own keys and arguments, the guard last."""
        script, pre_keys, pre_args = g.precommit
        settle = self._settles.get(script.sha)
        if settle is None:
            settle = self.redis.register_script(scripts.settle(cast(str, script.script)))
            self._settles[script.sha] = settle
        parts = [(pre_keys, pre_args)]
        for stage, items in g.outputs.items():
            parts += [(keys, args) for _, keys, args in self._publish_calls(stage, items)[0]]
        _, finish_keys, finish_args = self._finish_call(g.lane, g.ids, g.release)
        parts.append((finish_keys, finish_args))
        keys: list[str] = []
        layout: list[Any] = [len(parts), 2 if g.unwritten else int(g.drop)]
        args: list[Any] = []
        for part_keys, part_args in parts:
            layout += [len(part_keys), len(part_args)]
            keys += part_keys
            args += part_args
        value = list(g.unwritten) if g.unwritten else []
        return (settle, [*keys, g.key], [*layout, *args, *value, g.sha])

    async def publish(
        self, stage: Stage, items: Sequence[tuple[str, Envelope]], *, dedup: bool = True
    ) -> list[bool]:
        """Append envelopes to lanes (``(lane, envelope)`` pairs) and wake consumers.

        Returns, per item, whether it was a duplicate (an id already published on that
        lane within the dedup window) and therefore not added.
        """
        if not items:
            return []
        calls, groups = self._publish_calls(stage, items, dedup=dedup)
        # by text: a server that lost its scripts must not ring before the lanes are ready
        results = await self._pipeline(
            calls, lambda pipe: self._ring(pipe, stage), by_body=len(calls)
        )
        dups = [False] * len(items)
        for positions, result in zip(groups, results, strict=True):
            for pos, flag in zip(positions, result[1:], strict=True):
                dups[pos] = bool(flag)
        return dups

    # -- consuming ---------------------------------------------------------------------

    async def claim(
        self,
        stage: Stage,
        want: int,
        batch: int,
        *,
        hush: bool = False,
        wait_s: float = 0,
        reads: StateReads | None = None,
    ) -> list[ClaimedLane]:
        claim = await self.claim_and(stage, want, batch, hush=hush, wait_s=wait_s, reads=reads)
        return claim.lanes

    async def claim_and(
        self,
        stage: Stage,
        want: int,
        batch: int,
        *,
        hush: bool = False,
        wait_s: float = 0,
        reads: StateReads | None = None,
        slots: SlotClaim | None = None,
    ) -> Claim:
        """Take the leases of up to ``want`` ready lanes and read up to ``batch`` entries each.

        With ``hush`` the stage's bell is silenced in the same round trip, just before the
        lanes are looked at: every ring until then is answered by this claim, and a publish
        after it rings again. A claimer that took fewer than ``want`` lanes may then sleep
        on the bell without a wasted wake-up per publish it already served.

        With ``wait_s`` (and ``hush``) the claim first waits up to that long for the bell,
        in the same round trip: Redis runs a connection's commands in order, so the claim
        queued behind the blocking pop runs the moment a publish rings (or when the wait
        times out, which makes it a poll). A sleeping consumer then wakes once per ring, to
        the lanes already claimed, instead of waking to claim.

        With ``reads``, each lane comes with the state they name (``ClaimedLane.state``).
        With ``slots``, no more lanes are taken than the semaphore has room for, each with
        a slot taken in the same script.

        A partition's claim stops taking lanes once they brought ``SCRIPT_STRINGS`` entries
        and list items: ``more`` then says ready lanes were left for the next claim.
        """
        extra_args: list[Any] = (
            [reads.list_prefix, reads.value_prefix, reads.hash_key, reads.writers_key, reads.writer]
            if reads
            else ([""] * 5 if slots else [])
        )
        if slots:
            extra_args += [slots.key, slots.cap, slots.ttl_ms]
        parts = self.keys.partitions
        self._rotation = (self._rotation + 1) % parts
        candidates = [(self._rotation + i) % parts for i in range(parts)]
        claimed: list[ClaimedLane] = []
        taken: list[str] = []
        room: int | None = None
        bell = self.keys.bell(stage)

        def silence(pipe: Pipeline) -> int:
            if wait_s > 0:
                pipe.blpop([bell], timeout=wait_s)
            pipe.delete(bell)
            return 2 if wait_s > 0 else 1

        scan = self._scan_due(stage)
        more = False
        while want > 0 and candidates:
            shares = [want // len(candidates)] * len(candidates)
            for i in range(want % len(candidates)):
                shares[i] += 1
            tried = [(p, s) for p, s in zip(candidates, shares, strict=True) if s > 0]
            untried = [p for p, s in zip(candidates, shares, strict=True) if s == 0]
            calls = [
                (
                    self._claim,
                    self.keys.partition(stage, index).keys,
                    [
                        self.keys.partition(stage, index).lane_prefix,
                        share,
                        self.lease_ttl_ms,
                        batch,
                        SCRIPT_STRINGS,
                        int(scan),
                        *extra_args,
                        *([f"{slots.prefix}:{index}:"] if slots else []),
                    ],
                )
                for index, share in tried
            ]
            results = await self._pipeline(
                calls,
                head=silence if hush else None,
                raise_on_error=False,
                wait_s=wait_s if hush else 0.0,
                apart=True,
            )
            for result in results:  # raise as before (lanes taken meanwhile expire back)
                if isinstance(result, Exception):
                    raise result
            hush = False
            candidates = untried
            for (index, share), result in zip(tried, results, strict=True):
                part = self.keys.partition(stage, index)
                now = int(result[0])
                table = _table(result[1]) if reads is not None else {}
                got = [self._claimed(stage, part, now, raw, table) for raw in result[4:]]
                claimed += got
                want -= len(got)
                if slots:
                    room = int(result[3])
                    taken += [f"{slots.prefix}:{index}:{lane.token}" for lane in got]
                if int(result[2]) == 1:
                    more = True
                elif len(got) == share:
                    candidates.append(index)
        return Claim(claimed, more, taken, room)

    def _scan_due(self, stage: Stage) -> bool:
        """Whether a claim of ``stage`` now looks for expired leases and slots (it is
        noted as looked when it does)."""
        clock = time.monotonic()
        if clock - self._scanned.get(stage, -self._scan_s) < self._scan_s:
            return False
        self._scanned[stage] = clock
        return True

    @staticmethod
    def _claimed(
        stage: Stage, part: Partition, now: int, raw: list[Any], table: dict[bytes, bytes]
    ) -> ClaimedLane:
        lane, token, raw_entries, attempts, pending = raw[:5]
        entries = [_entry(e, int(a)) for e, a in zip(raw_entries, attempts, strict=True)]
        claimed = ClaimedLane(stage, part, _s(lane), _s(token), entries, now)
        claimed.redelivered = int(pending) == 1
        if len(raw) > 5:  # read with the claim (a lane with entries, claimed with reads)
            listed = raw[5]
            if isinstance(listed, int):  # the claimer wrote the list last: its length only
                claimed.state = LaneState(None, listed, raw[6], table)
            else:
                items = list(listed or [])
                claimed.state = LaneState(items, len(items), raw[6], table)
        return claimed

    async def wait(self, stage: Stage, timeout_s: float) -> None:
        """Block until a publish rings the stage's bell, or the timeout passes."""
        await self.redis.blpop([self.keys.bell(stage)], timeout=timeout_s)

    async def ring(self, stage: Stage) -> None:
        """Wake a consumer of ``stage`` (lanes became ready without a publish)."""
        for reply in await self._send(lambda pipe: self._ring(pipe, stage), 0):
            if isinstance(reply, Exception):
                raise reply

    def _ring(self, pipe: Pipeline, stage: Stage) -> None:
        bell = self.keys.bell(stage)
        pipe.lpush(bell, b"1")
        # A claim empties the bell; with no claimer awake it gains a ring per publish. It
        # is trimmed back to its depth on every eighth ring a bus sends, not on each: a
        # command fewer for almost every commit, the bell at most seven rings per
        # publishing process past its depth.
        self._rings += 1
        if self._rings % 8 == 0:
            pipe.ltrim(bell, 0, BELL_DEPTH - 1)

    async def finish(self, lane: ClaimedLane, ids: Iterable[str], *, release: bool = True) -> bool:
        """Ack and delete handled entries; with ``release`` give the lane up.

        Returns True when the lane was re-armed because more entries are waiting.
        Raises ``Fenced`` when the lease was lost.
        """
        [result] = await self.finish_many([(lane, list(ids), release)])
        if result == -1:
            raise Fenced(f"lease on {lane.stage}:{lane.lane} lost")
        return result == 2

    async def finish_many(
        self, items: Sequence[tuple[ClaimedLane, Sequence[str], bool]]
    ) -> list[int]:
        """``finish`` for many lanes in one round trip; per lane -1 (fenced), 1 or 2."""
        calls = [self._finish_call(lane, ids, release) for lane, ids, release in items]
        results = await self._pipeline(calls)
        return [int(r[0]) for r in results]

    def _finish_call(self, lane: ClaimedLane, ids: Sequence[str], release: bool) -> ScriptCall:
        part = lane.partition
        args = [
            part.lane_prefix,
            lane.lane,
            lane.token,
            int(release),
            self.lease_ttl_ms,
            # attempts are charged only on failures, and come with the claim: a lane none
            # of whose entries had any leaves no count to clear
            int(any(e.attempts for e in lane.entries)),
            *dict.fromkeys(ids),  # distinct: a lane with as many entries as ids is drained
        ]
        return (self._finish, part.keys, args)

    async def fail(
        self,
        lane: ClaimedLane,
        ids: Sequence[str],
        error: str,
        *,
        delay_s: float,
        dead: bool = False,
        charge: bool = True,
    ) -> tuple[bool, int]:
        """Charge an attempt to ``ids[0]``; back the lane off, or dead-letter ``ids``.

        Returns ``(dead_lettered, attempts)``.
        """
        part = lane.partition
        args: list[Any] = [
            part.lane_prefix,
            lane.lane,
            lane.token,
            int(delay_s * 1000),
            self.max_attempts,
            error[:2000],
            lane.stage.value,
            self.dlq_maxlen,
            int(dead),
            int(charge),
            *ids,
        ]
        result = await self._fail(keys=part.keys, args=args)
        if int(result[0]) == -1:
            raise Fenced(f"lease on {lane.stage}:{lane.lane} lost")
        dead_lettered = bool(int(result[0]))
        if dead_lettered:  # released at once: whatever followed the dead entries is ready
            await self.ring(lane.stage)
        return dead_lettered, int(result[1])

    async def handback(self, lane: ClaimedLane) -> None:
        """Give a lane back without acking: the next holder resumes its entries first."""
        part = lane.partition
        await self._pipeline(
            [(self._handback, part.keys, [part.lane_prefix, lane.lane, lane.token])],
            lambda pipe: self._ring(pipe, lane.stage),
        )

    async def renew(self, lanes: Sequence[ClaimedLane]) -> list[ClaimedLane]:
        """Extend the leases of held lanes; returns the lanes whose lease was lost."""
        by_part: dict[Partition, list[ClaimedLane]] = defaultdict(list)
        for lane in lanes:
            by_part[lane.partition].append(lane)
        if not by_part:
            return []
        calls = []
        for part, held in by_part.items():
            args: list[Any] = [self.lease_ttl_ms]
            for lane in held:
                args += [lane.lane, lane.token]
            calls.append((self._renew, part.keys, args))
        results = await self._pipeline(calls)
        lost = {
            (part, _s(item))
            for part, result in zip(by_part, results, strict=True)
            for item in result
        }
        return [lane for lane in lanes if (lane.partition, f"{lane.token}|{lane.lane}") in lost]

    # -- operating ---------------------------------------------------------------------

    async def backlog(self, stages: Iterable[Stage]) -> int:
        """Entries not yet acknowledged across ``stages``: their partitions' counters, read
        in one round trip (the figure ingest's backpressure checks several times a second)."""
        keys = [part.backlog for stage in stages for part in self.keys.all_partitions(stage)]

        def queue(pipe: Pipeline) -> None:
            for key in keys:
                pipe.get(key)

        total = 0
        for value in await self._send(queue, 0):
            if isinstance(value, Exception):
                raise value
            total += int(value or 0)
        return total

    async def stats(self, stage: Stage) -> LaneStats:
        parts = self.keys.all_partitions(stage)
        async with self.redis.pipeline(transaction=False) as pipe:
            for part in parts:
                pipe.get(part.backlog)
                pipe.zrange(part.oldest, 0, 0, withscores=True)
                pipe.zcard(part.ready)
                pipe.zcard(part.active)
            pipe.time()
            results = await pipe.execute()
        sec, usec = results[-1]
        now_ms = int(sec) * 1000 + int(usec) // 1000
        backlog = ready = active = 0
        oldest: float | None = None
        for i in range(len(parts)):
            b, o, r, a = results[4 * i : 4 * i + 4]
            backlog += int(b or 0)
            ready += int(r)
            active += int(a)
            if o:
                oldest = o[0][1] if oldest is None else min(oldest, o[0][1])
        age = max(0.0, (now_ms - oldest) / 1000) if oldest is not None else 0.0
        return LaneStats(backlog=backlog, oldest_age_s=age, ready=ready, active=active)

    async def holders(self, stage: Stage) -> dict[str, str]:
        """Held lanes of a stage and their fencing tokens."""
        out: dict[str, str] = {}
        for part in self.keys.all_partitions(stage):
            raw = await self.redis.hgetall(part.holders)
            out.update({_s(k): _s(v) for k, v in raw.items()})
        return out

    async def lane_lengths(self, stage: Stage, limit: int = 50) -> list[tuple[str, int, float]]:
        """(lane, entries, oldest age s) of the lanes with the oldest entries."""
        rows: list[tuple[str, float]] = []
        for part in self.keys.all_partitions(stage):
            oldest: Any = await self.redis.zrange(part.oldest, 0, limit - 1, withscores=True)
            rows += [(_s(lane), float(ms)) for lane, ms in oldest]
        rows.sort(key=lambda r: r[1])
        clock: Any = await self.redis.time()
        now_ms = int(clock[0]) * 1000 + int(clock[1]) // 1000
        out = []
        for lane, ms in rows[:limit]:
            part = self.keys.lane_partition(stage, lane)
            length = await self.redis.xlen(part.lane_stream(lane))
            out.append((lane, int(length), max(0.0, (now_ms - ms) / 1000)))
        return out

    async def dead_letters(self, stage: Stage, count: int = 100) -> list[DeadLetter]:
        out: list[DeadLetter] = []
        for part in self.keys.all_partitions(stage):
            rows: Any = await self.redis.xrange(part.dead, count=count)
            for entry_id, fields in rows:
                f = {_s(k): v for k, v in fields.items()}
                out.append(
                    DeadLetter(
                        partition=part.index,
                        id=_s(entry_id),
                        lane=_s(f.get("lane", b"")),
                        stage=_s(f.get("stage", b"")),
                        error=_s(f.get("error", b"")),
                        attempts=int(f.get("attempts", 0)),
                        envelope=bytes(f.get("e", b"")),
                    )
                )
        return out

    async def replay(self, stage: Stage, partition: int, dead_id: str) -> str | None:
        """Put a dead letter back at the tail of its lane. Returns the lane, or None."""
        part = self.keys.partition(stage, partition)
        lane = await self._replay(keys=part.keys, args=[part.lane_prefix, dead_id])
        if not lane:
            return None
        await self.ring(stage)
        return _s(lane)
