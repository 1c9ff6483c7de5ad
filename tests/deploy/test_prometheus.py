"""Prometheus config and rules: promtool checks and unit tests, and the PrometheusRule kept
identical to the plain rules file."""

from __future__ import annotations

import importlib.util
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.deploy.promql import RULES_FILE, rules
from tests.deploy.tools import DEPLOY, require_tool, run

PROMETHEUS = DEPLOY / "prometheus"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
MONITORING = DEPLOY / "components" / "monitoring"
SEVERITIES = {"critical", "warning", "info"}


def promtool(*args: str) -> str:
    return run([require_tool("promtool"), *args])


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def load_renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_prometheusrule", MONITORING / "render_prometheusrule.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_promtool_check_config() -> None:
    out = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert "1 rule files found" in out, "the compose Prometheus must load the clawbus rules"


def test_promtool_check_rules() -> None:
    promtool("check", "rules", str(RULES_FILE))


def test_promtool_test_rules() -> None:
    assert RULE_TESTS, "deploy/prometheus/tests/*.yml holds the alert unit tests"
    out = promtool("test", "rules", *map(str, RULE_TESTS))
    assert out.count("SUCCESS") == len(RULE_TESTS)


def test_prometheusrule_equals_the_rules_file(tmp_path: Path) -> None:
    committed = (MONITORING / "prometheusrule.yaml").read_text()
    assert committed == load_renderer().render(), (
        "prometheusrule.yaml is stale: uv run python deploy/components/monitoring/render_prometheusrule.py"
    )
    spec = yaml.safe_load(committed)["spec"]
    assert spec == yaml.safe_load(RULES_FILE.read_text())
    extracted = tmp_path / "prometheusrule.rules.yml"
    extracted.write_text(yaml.safe_dump(spec, sort_keys=False))
    promtool("check", "rules", str(extracted))


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_alert_has_severity_and_text(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("Clawbus")
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["summary"].strip()
    assert len(rule["annotations"]["description"]) > 40


def test_every_alert_fires_and_stays_quiet_in_a_unit_test() -> None:
    firing: dict[str, int] = defaultdict(int)
    quiet: dict[str, int] = defaultdict(int)
    recorded: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                bucket = firing if check.get("exp_alerts") else quiet
                bucket[check["alertname"]] += 1
            for check in case.get("promql_expr_test", []):
                recorded.add(check["expr"].strip())
    names = {rule["alert"] for rule in alerts()}
    assert not names - set(firing), f"alerts never shown firing: {sorted(names - set(firing))}"
    assert not names - set(quiet), f"alerts never shown quiet: {sorted(names - set(quiet))}"
    assert not set(firing) - names, "tests name alerts that do not exist"
    records = {rule["record"] for rule in rules() if "record" in rule}
    assert records <= recorded, f"recording rules without a test: {records - recorded}"


def test_the_operational_alerts_exist() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in alerts()}
    wanted = {
        "backlog growing": "clawbus_lane_backlog_entries",
        "oldest entry too old": "clawbus_lane_oldest_entry_age_seconds",
        "dead letters": "clawbus_dead_letters_total",
        "delivery errors by platform": "clawbus_delivery_errors_total",
        "agent error rate": "clawbus_agent_runs_total",
        "no consumer on a stage": "clawbus_stage_consumers",
        "redis unreachable": "clawbus_redis_up",
        "scrape target down": "up{",
    }
    for what, metric in wanted.items():
        assert any(metric in expr for expr in exprs.values()), f"no alert for {what}"
    delivery = next(e for e in exprs.values() if "clawbus_delivery_errors_total" in e)
    assert "by (namespace, channel)" in delivery, "delivery errors alert per platform"
