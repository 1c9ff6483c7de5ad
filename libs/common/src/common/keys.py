"""The one registry of Redis key and stream names.

Every key clawbus writes is built here from the namespace, and every one starts with the
namespace as a hash tag, ``{<ns>}``: an install's keys all hash to one slot, so every
script and transaction touches one slot whatever keys it reaches, and the same code runs
on a Redis Cluster, the install on the shard that holds its slot (installs with other
namespaces land on other shards). A stage's lanes are split into partitions, each with its
own indexes:

    {ns}:<stage>.<p>:ready      zset  lane -> ready-at ms (future = backing off)
    {ns}:<stage>.<p>:active     zset  lane -> lease expiry ms
    {ns}:<stage>.<p>:holders    hash  lane -> fencing token
    {ns}:<stage>.<p>:fence      counter of fencing tokens
    {ns}:<stage>.<p>:attempts   hash  "lane|entry-id" -> failed attempts
    {ns}:<stage>.<p>:backlog    counter of unacknowledged entries
    {ns}:<stage>.<p>:oldest     zset  lane -> ms of its oldest entry
    {ns}:<stage>.<p>:dead       stream of dead letters
    {ns}:<stage>.<p>:l:<lane>   stream of one lane (consumer group "g")
    {ns}:<stage>.<p>:s:<lane>   zset  ids seen on that lane (idempotent publish)
"""

from __future__ import annotations

import enum
import functools
import zlib
from dataclasses import dataclass, field


def root(ns: str) -> str:
    """The prefix of every key of the install: its namespace as the hash tag they share."""
    return f"{{{ns}}}"


class Stage(enum.StrEnum):
    """The lane stages: which service consumes them."""

    ROUTE = "route"  # ingest -> router, keyed by conversation
    AGENT = "agent"  # router/scheduler/delivery -> worker, keyed by session
    DELIVER = "deliver"  # worker -> delivery, keyed by destination chat
    CONTROL = "control"  # worker -> scheduler, keyed by agent


LANE_GROUP = "g"
LANE_CONSUMER = "c"


@dataclass(frozen=True, slots=True)
class Partition:
    """The keys of one partition of one stage; all share a hash tag."""

    ns: str
    stage: Stage
    index: int
    # derived once: every script call on the message path passes them
    tag: str = field(init=False, compare=False, repr=False)
    _keys: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        tag = f"{root(self.ns)}:{self.stage.value}.{self.index}"
        object.__setattr__(self, "tag", tag)
        names = ("ready", "active", "holders", "fence", "attempts", "backlog", "oldest", "dead")
        object.__setattr__(self, "_keys", tuple(f"{tag}:{name}" for name in names))

    @property
    def ready(self) -> str:
        return f"{self.tag}:ready"

    @property
    def active(self) -> str:
        return f"{self.tag}:active"

    @property
    def holders(self) -> str:
        return f"{self.tag}:holders"

    @property
    def fence(self) -> str:
        return f"{self.tag}:fence"

    @property
    def attempts(self) -> str:
        return f"{self.tag}:attempts"

    @property
    def backlog(self) -> str:
        return f"{self.tag}:backlog"

    @property
    def oldest(self) -> str:
        return f"{self.tag}:oldest"

    @property
    def dead(self) -> str:
        return f"{self.tag}:dead"

    @property
    def lane_prefix(self) -> str:
        return f"{self.tag}:l:"

    @property
    def seen_prefix(self) -> str:
        return f"{self.tag}:s:"

    def lane_stream(self, lane: str) -> str:
        return self.lane_prefix + lane

    @property
    def keys(self) -> list[str]:
        """The fixed keys every lane script receives, in script order."""
        return list(self._keys)


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names of one clawbus installation (one namespace)."""

    ns: str
    partitions: int

    @property
    def root(self) -> str:
        return root(self.ns)

    def partition_of(self, lane: str) -> int:
        return zlib.crc32(lane.encode()) % self.partitions

    def partition(self, stage: Stage, index: int) -> Partition:
        return _partition(self.ns, stage, index)

    def lane_partition(self, stage: Stage, lane: str) -> Partition:
        return _partition(self.ns, stage, self.partition_of(lane))

    def all_partitions(self, stage: Stage) -> list[Partition]:
        return [_partition(self.ns, stage, i) for i in range(self.partitions)]

    def bell(self, stage: Stage) -> str:
        """List that wakes idle consumers of a stage (a hint; the ready sets are the truth)."""
        return f"{self.root}:bell:{stage.value}"

    @property
    def agent_slots(self) -> str:
        """Sorted set semaphore: holder -> lease expiry; capped at agent_max_concurrency."""
        return f"{self.root}:slots:agent"

    def receipt(self, outbound_id: str) -> str:
        """Platform message id of a delivered outbound message (exactly-once sends)."""
        return f"{self.root}:receipt:{outbound_id}"

    def sending(self, outbound_id: str) -> str:
        """Marker set just before a platform send; a retry that finds it may be a duplicate."""
        return f"{self.root}:sending:{outbound_id}"

    def webchat_history(self, conversation: str) -> str:
        """Stream of one web chat conversation: user messages and agent replies."""
        return f"{self.root}:webchat:h:{conversation}"

    @property
    def webchat_events(self) -> str:
        """Stream every ingest replica tails to push replies and typing to its sockets."""
        return f"{self.root}:webchat:events"

    def webchat_conversations(self, user: str) -> str:
        return f"{self.root}:webchat:convs:{user}"

    # scheduler
    @property
    def tasks(self) -> str:
        """Hash task id -> task JSON."""
        return f"{self.root}:tasks"

    @property
    def tasks_due(self) -> str:
        """Sorted set task id -> next fire time (ms)."""
        return f"{self.root}:tasks:due"

    @property
    def tasks_firing(self) -> str:
        """Sorted set "task|occurrence" -> claim time (ms): fired but not yet published."""
        return f"{self.root}:tasks:firing"

    # agent state
    def history(self, session: str) -> str:
        return f"{self.root}:history:{session}"

    @property
    def history_writers(self) -> str:
        """Hash session -> id of the worker process that wrote its history last."""
        return f"{self.root}:history-writers"

    def memory(self, agent: str) -> str:
        return f"{self.root}:memory:{agent}"

    def run(self, session: str, run_id: str) -> str:
        """Recorded emits of one agent run, replayed if the same entries are handed over again."""
        return f"{self.root}:run:{session}:{run_id}"

    def session_reply(self, session: str) -> str:
        """Destination JSON of the chat a session last answered (where agent answers land)."""
        return f"{self.root}:session:reply:{session}"

    @property
    def runtime_agents(self) -> str:
        """Hash agent name -> agent JSON: agents created at runtime by an approved request."""
        return f"{self.root}:agents"

    def approval(self, approval_id: str) -> str:
        """One approval request (JSON): what is asked, by whom, and its decision."""
        return f"{self.root}:approval:{approval_id}"

    @property
    def llm_usage(self) -> str:
        """Hash "<agent>|<model>|<kind>" -> count; kinds: input, output, cache_read,
        cache_write (tokens) and cost_micro_usd (estimated dollars times one million)."""
        return f"{self.root}:usage:llm"

    def leader(self, name: str) -> str:
        """Leader lease for a long-lived connection (one bot's gateway/socket/polling)."""
        return f"{self.root}:leader:{name}"

    def kv(self, name: str) -> str:
        """Small named values (e.g. a Telegram polling offset)."""
        return f"{self.root}:kv:{name}"

    def heartbeat(self, service: str) -> str:
        """Sorted set replica id -> last heartbeat ms, per service."""
        return f"{self.root}:heartbeat:{service}"


def renamed(ns: str, name: str) -> str | None:
    """The name under this layout of a key written under the one before it, which gave
    each lane partition a hash tag of its own and the rest none (``<ns>:{<ns>.<stage>.<p>}:
    ready``, ``<ns>:history:<session>``); None for a name that layout did not make."""
    old = f"{ns}:"
    if not name.startswith(old):
        return None
    rest = name[len(old) :]
    tag = f"{{{ns}."
    if rest.startswith(tag):
        inner, sep, tail = rest[len(tag) :].partition("}")
        if not sep:
            return None
        return f"{root(ns)}:{inner}{tail}"
    return f"{root(ns)}:{rest}"


@functools.lru_cache(maxsize=1024)
def _partition(ns: str, stage: Stage, index: int) -> Partition:
    return Partition(ns, stage, index)
