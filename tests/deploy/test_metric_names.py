"""Every series the dashboards, alert rules and autoscaler query exists in common.metrics,
with the labels it is filtered and grouped by."""

from __future__ import annotations

import re

import promql_parser
import pytest

from tests.deploy.promql import (
    TARGET_LABELS,
    all_exprs,
    exposed_metrics,
    recorded_names,
    selector_name,
    selectors,
)

GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def test_all_exprs_covers_dashboards_rules_and_autoscaler() -> None:
    sources = {source.split()[0] for source, _ in all_exprs()}
    assert sources == {"dashboard", "rule", "keda"}


@pytest.mark.parametrize(("source", "expr"), all_exprs(), ids=lambda v: str(v)[:60])
def test_series_and_labels_exist(source: str, expr: str) -> None:
    # Series name -> the labels it carries: the services' metrics, Prometheus' own `up`, and
    # the recording rules (which keep only `namespace`).
    known = {
        **exposed_metrics(),
        "up": TARGET_LABELS,
        **{name: frozenset({"namespace"}) for name in recorded_names()},
    }
    try:
        found = selectors(expr)
    except ValueError as exc:
        pytest.fail(f"{source}: {exc}")
    names = set()
    for selector in found:
        name = selector_name(selector)
        assert name, f"{source}: selector without a metric name: {selector}"
        assert name in known, f"{source}: {name} is not exported by common.metrics"
        names.add(name)
        for matcher in selector.matchers.matchers:
            assert matcher.name in known[name] | {"__name__"}, (
                f"{source}: {name} has no label {matcher.name!r}"
            )
    # Labels used for grouping must exist on at least one of the series involved.
    available = set().union(*(known[n] for n in names))
    for group in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in group.split(","))):
            assert label in available, f"{source}: grouping by unknown label {label!r}"


def test_the_parser_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(clawbus_messages_total[5m]) by")
