"""Every Prometheus metric clawbus exports, with its name and help text.

Labels are bounded: stage, outcome, channel, agent, model, provider, reason, tool, kind.
Never message, user or chat ids. Gauges about shared state (backlog, oldest entry, slots)
are read from Redis by every replica of a stage: aggregate them with ``max by (stage)``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram, Info

# Seconds buckets that straddle the goals: ms-level bus hops up to minute-long agent runs.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
)

BUILD = Info("clawbus_build", "Version and service of this process")

MESSAGES = Counter(
    "clawbus_messages_total",
    "Lane entries handled, by stage and outcome (ok, retry, dead, fenced, dropped)",
    ["stage", "outcome"],
)
PUBLISHED = Counter(
    "clawbus_published_total",
    "Entries published into lanes, by stage and result (new, duplicate)",
    ["stage", "result"],
)
INGEST_REQUESTS = Counter(
    "clawbus_ingest_requests_total",
    "Inbound platform events, by channel and status (accepted, duplicate, throttled, "
    "unavailable, rejected)",
    ["channel", "status"],
)
HANDLER_SECONDS = Histogram(
    "clawbus_handler_duration_seconds",
    "Time to handle one lane batch, by stage",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
QUEUE_SECONDS = Histogram(
    "clawbus_lane_wait_seconds",
    "Time an entry waited in its lane before a handler took it, by stage",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
END_TO_END_SECONDS = Histogram(
    "clawbus_end_to_end_latency_seconds",
    "From ingest accepting a message to the platform send of a reply it caused",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
BACKLOG = Gauge("clawbus_lane_backlog_entries", "Entries not yet acknowledged, by stage", ["stage"])
OLDEST_AGE = Gauge(
    "clawbus_lane_oldest_entry_age_seconds",
    "Age of the oldest unacknowledged entry, by stage",
    ["stage"],
)
LANES_READY = Gauge(
    "clawbus_lanes_ready", "Lanes with work waiting for a consumer (incl. backing off)", ["stage"]
)
LANES_ACTIVE = Gauge("clawbus_lanes_active", "Lanes held by a consumer right now", ["stage"])
CONSUMERS = Gauge(
    "clawbus_stage_consumers", "Live consumer replicas seen by heartbeat, by stage", ["stage"]
)
RETRIES = Counter("clawbus_retries_total", "Entries handed back for retry, by stage", ["stage"])
DEAD_LETTERS = Counter(
    "clawbus_dead_letters_total", "Entries moved to the dead-letter stream, by stage", ["stage"]
)
FENCED = Counter(
    "clawbus_lease_lost_total", "Lane leases lost to expiry or takeover, by stage", ["stage"]
)
AGENT_RUNS_IN_FLIGHT = Gauge(
    "clawbus_agent_runs_in_flight", "Agent runs in flight in this worker replica"
)
AGENT_SLOTS_IN_USE = Gauge(
    "clawbus_agent_slots_in_use", "Global agent-run slots held across all workers"
)
AGENT_SLOTS_CAPACITY = Gauge(
    "clawbus_agent_slots_capacity", "Global agent-run cap (agent_max_concurrency)"
)
AGENT_RUN_SECONDS = Histogram(
    "clawbus_agent_run_duration_seconds",
    "Agent run wall-clock time, by agent and outcome",
    ["agent", "outcome"],
    buckets=LATENCY_BUCKETS,
)
AGENT_RUNS = Counter(
    "clawbus_agent_runs_total",
    "Agent runs, by agent and outcome (ok, error, timeout)",
    ["agent", "outcome"],
)
LLM_REQUESTS = Counter(
    "clawbus_llm_requests_total",
    "Model API calls, by provider, model and outcome (ok, retryable, permanent)",
    ["provider", "model", "outcome"],
)
LLM_TOKENS = Counter(
    "clawbus_llm_tokens_total",
    "Model tokens, by agent, model and kind (input, output, cache_read, cache_write)",
    ["agent", "model", "kind"],
)
LLM_COST = Counter(
    "clawbus_llm_cost_dollars_total",
    "Estimated model cost in US dollars, by agent and model",
    ["agent", "model"],
)
TOOL_CALLS = Counter(
    "clawbus_tool_calls_total", "Tool calls by agents, by tool and outcome", ["tool", "outcome"]
)
DELIVERIES = Counter(
    "clawbus_deliveries_total",
    "Platform sends, by channel and outcome (ok, duplicate_skipped, possible_duplicate; "
    "skipped: a typing indicator for a channel not enabled)",
    ["channel", "outcome"],
)
DELIVERY_ERRORS = Counter(
    "clawbus_delivery_errors_total",
    "Failed platform sends, by channel and reason (rate_limited, retryable, permanent)",
    ["channel", "reason"],
)
DELIVERY_SECONDS = Histogram(
    "clawbus_delivery_duration_seconds",
    "Platform send call duration, by channel",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
TASKS_FIRED = Counter(
    "clawbus_tasks_fired_total", "Scheduled task occurrences fired, by schedule kind", ["kind"]
)
TASKS_ACTIVE = Gauge("clawbus_tasks_scheduled", "Tasks waiting for their next occurrence")
REDIS_UP = Gauge("clawbus_redis_up", "1 when this process's last Redis call succeeded")
REDIS_CONNECTION_ERRORS = Counter(
    "clawbus_redis_connection_errors_total",
    "Connections of the message path's transport that failed: lost, timeout (no reply in "
    "time) or connect (could not connect or authenticate)",
    ["reason"],
)
for _reason in ("lost", "timeout", "connect"):  # every series exported from the start
    REDIS_CONNECTION_ERRORS.labels(_reason)


def observe_all(series: Histogram, amounts: Sequence[float]) -> None:
    """``series.observe(a)`` for every ``a`` of ``amounts`` (a histogram's labelled child),
    with one update of the sum and one per bucket touched: ``observe`` takes a lock for the
    sum and another for the bucket on every call, and a stage observes each entry it takes.
    """
    if not amounts:
        return
    bounds: Sequence[float] = series._upper_bounds
    counts: dict[int, int] = {}
    for amount in amounts:
        at = bisect_left(bounds, amount)  # the first bucket whose bound is >= amount
        counts[at] = counts.get(at, 0) + 1
    series._sum.inc(sum(amounts))
    for at, n in counts.items():
        series._buckets[at].inc(n)
