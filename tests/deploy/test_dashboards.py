"""Grafana dashboards and provisioning: structure, PromQL syntax, real metric names."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import yaml

from tests.deploy.promql import (
    DASHBOARDS,
    _panels,
    dashboard_exprs,
    dashboard_files,
    selectors,
)
from tests.deploy.tools import DEPLOY, REPO

PROVISIONING = DEPLOY / "grafana" / "provisioning"
REQUIRED = {"clawbus-overview", "clawbus-agents", "clawbus-channels"}


def boards() -> list[tuple[str, dict[str, Any]]]:
    return [(path.stem, json.loads(path.read_text())) for path in dashboard_files()]


def test_the_three_dashboards_exist_with_unique_uids() -> None:
    loaded = boards()
    uids = [board["uid"] for _, board in loaded]
    assert {name for name, _ in loaded} >= REQUIRED
    assert len(uids) == len(set(uids)), f"duplicate dashboard uids: {uids}"
    assert all(len(uid) <= 40 for uid in uids), "Grafana uids are at most 40 characters"


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.stem)
def test_dashboard_structure(path: Any) -> None:
    board = json.loads(path.read_text())
    assert board["title"] and board["uid"] and isinstance(board["schemaVersion"], int)
    panels = list(_panels(board["panels"]))
    ids = Counter(panel["id"] for panel in panels)
    assert not [i for i, n in ids.items() if n > 1], f"duplicate panel ids: {ids}"
    names = [v["name"] for v in board["templating"]["list"]]
    assert "datasource" in names, "data source chosen by a variable, so any Prometheus works"
    for panel in panels:
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y")), panel["title"]
        assert grid["x"] + grid["w"] <= 24, f"{panel['title']} overflows the 24-column grid"
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"{panel['title']} has no query"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{panel['title']}: duplicate refIds"
        for target in panel["targets"]:
            for used in ("$namespace", "$agent", "$channel"):
                if used in target["expr"]:
                    assert used[1:] in names, f"{panel['title']} uses undefined {used}"


def test_overview_covers_what_operators_watch() -> None:
    board = json.loads((DASHBOARDS / "clawbus-overview.json").read_text())
    exprs = " ".join(t["expr"] for p in _panels(board["panels"]) for t in p.get("targets", []))
    for metric in (
        "clawbus_messages_total",
        "clawbus_end_to_end_latency_seconds_bucket",
        "clawbus_lane_backlog_entries",
        "clawbus_lane_oldest_entry_age_seconds",
        "clawbus_agent_runs_in_flight",
        "clawbus_agent_slots_capacity",
        "clawbus_dead_letters_total",
    ):
        assert metric in exprs, f"overview dashboard lacks {metric}"


@pytest.mark.parametrize(("source", "expr"), list(dashboard_exprs()), ids=lambda v: str(v)[:60])
def test_dashboard_expr_parses(source: str, expr: str) -> None:
    try:
        assert selectors(expr), f"{source}: no series selected"
    except ValueError as exc:
        pytest.fail(f"{source}: {exc}\n{expr}")


def test_provisioning_points_at_the_dashboards() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(
        (volume.split(":")[1], volume.split(":")[0])
        for volume in compose["services"]["grafana"]["volumes"]
        if volume.startswith("./")
    )
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "clawbus.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert mounts[path] == "./deploy/grafana/dashboards"
    home = compose["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]
    assert home.startswith(path + "/")
    assert (DASHBOARDS / home.rsplit("/", 1)[1]).is_file()
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
