"""Metric helpers against the client library's own behaviour."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest

from common import metrics


def test_observing_many_at_once_exposes_what_observing_each_does():
    # values on bounds, between them, past the last finite one, and zero
    amounts = [0.0, 0.001, 0.0011, 0.3, 0.3, 2.5, 7.0, 59.9, 400.0, 0.05]
    exposed = []
    for observe in ("each", "all"):
        registry = CollectorRegistry()
        series = Histogram(
            "wait_seconds", "w", ["stage"], buckets=metrics.LATENCY_BUCKETS, registry=registry
        ).labels("route")
        if observe == "each":
            for amount in amounts:
                series.observe(amount)
        else:
            metrics.observe_all(series, amounts[:4])
            metrics.observe_all(series, [])
            metrics.observe_all(series, amounts[4:])
        exposed.append(
            b"\n".join(
                line for line in generate_latest(registry).splitlines() if b"_created" not in line
            )
        )
    assert exposed[0] == exposed[1]
    assert b'wait_seconds_bucket{le="0.001",stage="route"} 2.0' in exposed[1]
    assert b'wait_seconds_count{stage="route"} 10.0' in exposed[1]
