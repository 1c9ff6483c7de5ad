"""Every overlay renders with `kubectl kustomize` and validates: built-in kinds with
`kubernetes-validate --strict`, custom resources against their CRD JSON schemas."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from tests.deploy.tools import CRD_SCHEMAS, OVERLAYS, rendered, require_tool, run

# Oldest and newest Kubernetes minor versions the manifests are checked against.
KUBERNETES_VERSIONS = ("1.29.0", "1.35.0")
CRD_SCHEMA_FILES = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh/scaledobject_v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com/servicemonitor_v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com/prometheusrule_v1.json",
}


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    if not CRD_SCHEMAS.is_dir():
        pytest.fail(f"CRD schemas not found at {CRD_SCHEMAS} (shared/ must sit beside the repo)")
    path = CRD_SCHEMAS / CRD_SCHEMA_FILES[(api_version, kind)]
    return dict(json.loads(path.read_text()))


def is_custom(doc: dict[str, Any]) -> bool:
    return (doc["apiVersion"], doc["kind"]) in CRD_SCHEMA_FILES


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders(overlay: str) -> None:
    docs = rendered(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap"} <= kinds
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert len({d["metadata"].get("namespace") for d in namespaced}) == 1, "one namespace"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_kinds_validate_strict(overlay: str, version: str, tmp_path: Path) -> None:
    builtin = [d for d in rendered(overlay) if not is_custom(d)]
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(builtin, sort_keys=False))
    out = run([require_tool("kubernetes-validate"), "-k", version, "--strict", str(manifest)])
    problems = [line for line in out.splitlines() if not line.startswith("INFO")]
    # A WARN means a kind without a schema: neither built-in nor a known CRD.
    assert not problems, "\n".join(problems)
    assert out.count("passed") == len(builtin)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_crd_schemas(overlay: str) -> None:
    custom = [d for d in rendered(overlay) if is_custom(d)]
    if overlay.startswith("prod"):
        assert {d["kind"] for d in custom} >= {"ServiceMonitor", "PrometheusRule"}
    for doc in custom:
        validator = jsonschema.Draft7Validator(crd_schema(doc["apiVersion"], doc["kind"]))
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
        assert not errors, f"{doc['kind']}/{doc['metadata']['name']}: " + "; ".join(errors)


def test_crd_schemas_catch_mistakes() -> None:
    """The schemas are strict: a misspelt field and an integer trigger value are rejected."""
    scaled = next(d for d in rendered("prod") if d["kind"] == "ScaledObject")
    scaled["spec"]["maxReplicaCont"] = 3
    scaled["spec"]["triggers"][0]["metadata"]["threshold"] = 8
    validator = jsonschema.Draft7Validator(crd_schema("keda.sh/v1alpha1", "ScaledObject"))
    messages = " ".join(e.message for e in validator.iter_errors(scaled))
    assert "maxReplicaCont" in messages and "is not of type 'string'" in messages
