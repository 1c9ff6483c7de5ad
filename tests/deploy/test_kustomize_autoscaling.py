"""Worker autoscaling: one autoscaler per Deployment, limits that follow the global agent
cap, and a KEDA query that reads the right namespace."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tests.deploy.k8s import AUTOSCALER_KINDS, autoscaler_target, clawbus_deployments, setting
from tests.deploy.promql import selectors
from tests.deploy.tools import OVERLAYS, by_name, of_kind, rendered


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_deployment_has_two_autoscalers(overlay: str) -> None:
    docs = rendered(overlay)
    targets = Counter(
        autoscaler_target(d) for kind in AUTOSCALER_KINDS for d in of_kind(docs, kind)
    )
    doubled = [t for t, n in targets.items() if n > 1]
    assert not doubled, f"{overlay}: both an HPA and a ScaledObject (or two of one) on {doubled}"
    deployments = by_name(docs, "Deployment")
    for kind, name in targets:
        assert kind == "Deployment" and name in deployments, f"autoscaler targets missing {name}"
        assert "replicas" not in deployments[name]["spec"], (
            f"{name} is autoscaled: spec.replicas would fight the autoscaler on every apply"
        )


def test_prod_overlays_autoscale_the_worker_one_way_each() -> None:
    assert [d["kind"] for d in rendered("prod") if d["kind"] in AUTOSCALER_KINDS] == [
        "ScaledObject"
    ]
    assert [d["kind"] for d in rendered("prod-hpa") if d["kind"] in AUTOSCALER_KINDS] == [
        "HorizontalPodAutoscaler"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaler_limits_follow_the_global_agent_cap(overlay: str) -> None:
    docs = rendered(overlay)
    worker = clawbus_deployments(docs)["worker"]
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    per_replica = int(setting(docs, container, "worker_concurrency"))
    cap = int(setting(docs, container, "agent_max_concurrency"))
    expected_max = math.ceil(cap / per_replica)
    for scaled in of_kind(docs, "ScaledObject"):
        spec = scaled["spec"]
        assert spec["maxReplicaCount"] == expected_max, (
            f"maxReplicaCount {spec['maxReplicaCount']} != ceil({cap} / {per_replica})"
        )
        assert 1 <= spec["minReplicaCount"] <= expected_max
        assert spec.get("fallback", {}).get("replicas", 1) <= expected_max
        for trigger in spec["triggers"]:
            assert trigger["type"] == "prometheus", (
                "lanes are many streams: see the README's Deployment section"
            )
            assert float(trigger["metadata"]["threshold"]) == per_replica
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        spec = hpa["spec"]
        assert spec["maxReplicas"] == expected_max
        assert 1 <= spec["minReplicas"] <= expected_max
        (metric,) = spec["metrics"]
        assert float(metric["external"]["target"]["averageValue"]) == per_replica


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_query_reads_its_own_namespace(overlay: str) -> None:
    for scaled in of_kind(rendered(overlay), "ScaledObject"):
        namespace = scaled["metadata"]["namespace"]
        for trigger in scaled["spec"]["triggers"]:
            query = trigger["metadata"]["query"]
            for selector in selectors(query):
                matchers = {m.name: m.value for m in selector.matchers.matchers}
                assert matchers.get("namespace") == namespace, query
                assert matchers.get("stage") == "agent", query
