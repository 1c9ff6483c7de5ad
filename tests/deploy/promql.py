"""Every PromQL expression clawbus ships, ready to parse or to run against a Prometheus.

    from tests.deploy.promql import all_exprs
    for source, expr in all_exprs():      # source: "dashboard clawbus-overview: <panel>" ...
        ...

Grafana macros and dashboard variables are substituted (`$__rate_interval` -> 1m, `$namespace`
-> `.*`), so each expression is plain PromQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from tests.deploy.tools import DEPLOY

DASHBOARDS = DEPLOY / "grafana" / "dashboards"
RULES_FILE = DEPLOY / "prometheus" / "rules" / "clawbus.rules.yml"
KEDA_SCALEDOBJECT = DEPLOY / "components" / "keda" / "scaledobject.yaml"

# Grafana's built-in interval macros, replaced by durations Prometheus accepts.
MACROS = {
    "$__rate_interval": "1m",
    "$__interval": "30s",
    "$__range": "1h",
    "${__rate_interval}": "1m",
    "${__interval}": "30s",
    "${__range}": "1h",
}
VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def substitute(expr: str) -> str:
    """Plain PromQL from a Grafana target: macros -> durations, variables -> `.*`."""
    for macro, value in MACROS.items():
        expr = expr.replace(macro, value)
    return VARIABLE.sub(".*", expr)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    """(source, expr) for every panel target and every query variable of every dashboard."""
    for path in dashboard_files():
        board = json.loads(path.read_text())
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield f"dashboard {path.stem}: {panel['title']}", substitute(target["expr"])
        for var in board.get("templating", {}).get("list", []):
            query = var.get("query")
            if var.get("type") == "query" and isinstance(query, dict):
                query = query.get("query")
            if var.get("type") == "query" and query:
                yield f"dashboard {path.stem}: variable {var['name']}", _variable_query(query)


def _variable_query(query: str) -> str:
    """label_values(<selector>, label) -> <selector>; query_result(<expr>) -> <expr>."""
    match = re.fullmatch(r"\s*(label_values|query_result)\((.*)\)\s*", query, re.S)
    if not match:
        return substitute(query)
    inner = match.group(2)
    if match.group(1) == "label_values":
        inner = inner.rsplit(",", 1)[0] if "," in inner else inner
    return substitute(inner)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def rule_exprs() -> Iterator[tuple[str, str]]:
    for rule in rules():
        name = rule.get("alert") or rule.get("record")
        yield f"rule {name}", rule["expr"]


def autoscaler_exprs() -> Iterator[tuple[str, str]]:
    scaled = yaml.safe_load(KEDA_SCALEDOBJECT.read_text())
    for trigger in scaled["spec"]["triggers"]:
        if trigger["type"] == "prometheus":
            yield "keda ScaledObject clawbus-worker", trigger["metadata"]["query"]


def all_exprs() -> list[tuple[str, str]]:
    """Every expression from the dashboards, the rules and the KEDA trigger."""
    return [*dashboard_exprs(), *rule_exprs(), *autoscaler_exprs()]


def recorded_names() -> frozenset[str]:
    return frozenset(rule["record"] for rule in rules() if "record" in rule)


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    """Every vector selector in the expression (raises ValueError on a syntax error)."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def selector_name(selector: promql_parser.VectorSelector) -> str | None:
    if selector.name:
        return str(selector.name)
    for matcher in selector.matchers.matchers:
        if matcher.name == "__name__" and str(matcher.op) == "MatchOp.Equal":
            return str(matcher.value)
    return None


# Labels Prometheus attaches to every scraped series (static/dns targets and ServiceMonitor).
TARGET_LABELS = frozenset(
    {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}
)


def exposed_metrics() -> dict[str, frozenset[str]]:
    """Series names the services expose, from the collectors in common.metrics, with the
    label names each carries (target labels included).

    Counters gain `_total` (and `_created`), histograms `_bucket`/`_sum`/`_count`, infos `_info`.
    """
    from prometheus_client.metrics import MetricWrapperBase

    from common import metrics

    out: dict[str, frozenset[str]] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = frozenset(collector._labelnames) | TARGET_LABELS
        for family in collector.describe():
            suffixes = {
                "counter": ("_total", "_created"),
                "histogram": ("_bucket", "_sum", "_count", "_created"),
                "info": ("_info",),
                "gauge": ("",),
            }[family.type]
            for suffix in suffixes:
                extra = {"le"} if suffix == "_bucket" else set()
                if family.type == "info":
                    extra = {"component", "version"}  # BUILD.info({"component", "version"})
                out[family.name + suffix] = labels | extra
    return out
