"""Small helpers to reason about rendered Kubernetes objects."""

from __future__ import annotations

from typing import Any

from tests.deploy.tools import by_name, of_kind

Doc = dict[str, Any]

AUTOSCALER_KINDS = ("HorizontalPodAutoscaler", "ScaledObject")


def selector_matches(selector: Doc, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and key in labels and labels[key] in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def pod_labels(workload: Doc) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def workloads(docs: list[Doc]) -> list[Doc]:
    return of_kind(docs, "Deployment") + of_kind(docs, "StatefulSet")


def clawbus_deployments(docs: list[Doc]) -> dict[str, Doc]:
    """component name (ingest, ...) -> its Deployment."""
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in of_kind(docs, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/name") == "clawbus"
    }


def effective_env(docs: list[Doc], container: Doc) -> dict[str, str]:
    """Plain values a container sees: envFrom ConfigMaps, then env (valueFrom skipped)."""
    config_maps = by_name(docs, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            env.update(config_maps[ref["name"]].get("data", {}))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
    return env


def setting(docs: list[Doc], container: Doc, field: str) -> str:
    """A setting's effective value for a container, falling back to the Settings default."""
    from common.settings import ENV_PREFIX, Settings

    env = effective_env(docs, container)
    name = f"{ENV_PREFIX}{field.upper()}"
    if name in env:
        return env[name]
    return str(Settings.model_fields[field].default)


def autoscaler_target(doc: Doc) -> tuple[str, str]:
    ref = doc["spec"]["scaleTargetRef"]
    return ref.get("kind", "Deployment"), ref["name"]
