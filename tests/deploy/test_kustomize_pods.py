"""Pod hardening, drain time, settings, secrets, the mounted config, Redis and images."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.k8s import clawbus_deployments, effective_env, setting, workloads
from tests.deploy.tools import (
    CHANNEL_SECRETS,
    OVERLAYS,
    allowed_env_names,
    by_name,
    of_kind,
    rendered,
)

SECRET_MARKERS = ("TOKEN", "SECRET", "API_KEY", "REDIS_URL", "PASSWORD")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_restrictive_security_context(overlay: str) -> None:
    for workload in workloads(rendered(overlay)):
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in ctx["capabilities"], name
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


def prestop_seconds(container: dict[str, Any]) -> int:
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    return int(command[-1]) if command and command[0] == "sleep" else 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_covers_the_drain(overlay: str) -> None:
    docs = rendered(overlay)
    for name, deployment in clawbus_deployments(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        drain = float(setting(docs, container, "drain_grace_s"))
        needed = drain + prestop_seconds(container) + 5
        assert pod["terminationGracePeriodSeconds"] >= needed, (
            f"{name}: grace {pod['terminationGracePeriodSeconds']} s < drain {drain} s + "
            f"preStop {prestop_seconds(container)} s + 5 s margin"
        )
        assert pod["terminationGracePeriodSeconds"] <= needed + 15, f"{name}: grace far too long"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_env_var_names_are_real_settings(overlay: str) -> None:
    docs = rendered(overlay)
    allowed = allowed_env_names()
    config_maps = by_name(docs, "ConfigMap")
    for name, deployment in clawbus_deployments(docs).items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        names = {var["name"] for var in container.get("env", [])}
        for source in container.get("envFrom", []):
            names |= set(config_maps[source["configMapRef"]["name"]]["data"])
        unknown = names - allowed
        assert not unknown, f"{overlay}/{name}: unknown variables {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_secret_refs(overlay: str) -> None:
    docs = rendered(overlay)
    for name, deployment in clawbus_deployments(docs).items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for var in container.get("env", []):
            if not any(marker in var["name"] for marker in SECRET_MARKERS):
                continue
            assert "value" not in var, f"{name}: {var['name']} must not be inline"
            ref = var["valueFrom"]["secretKeyRef"]
            if var["name"] in CHANNEL_SECRETS:
                assert ref.get("optional") is True, f"{var['name']}: channels are optional"
        env = effective_env(docs, container)
        leaked = [k for k in env if any(marker in k for marker in SECRET_MARKERS)]
        assert not leaked, f"{name}: secrets in a ConfigMap or inline: {leaked}"
    secrets = of_kind(docs, "Secret")
    if overlay.startswith("prod"):
        assert not secrets, "production Secrets are created by the operator, never rendered"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_map_holds_a_valid_config(overlay: str, tmp_path: Path) -> None:
    from common.config import load_config

    docs = rendered(overlay)
    for name, deployment in clawbus_deployments(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        config_path = setting(docs, container, "config_path")
        mount = next(
            m for m in container["volumeMounts"] if config_path.startswith(m["mountPath"] + "/")
        )
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        data = by_name(docs, "ConfigMap")[volume["configMap"]["name"]]["data"]
        key = config_path.removeprefix(mount["mountPath"] + "/")
        (tmp_path / key).write_text(data[key])
        config = load_config(tmp_path / key)
        assert config.agents and config.wiring, name


def test_redis_runs_in_cluster_only_for_dev() -> None:
    dev = rendered("dev")
    (redis,) = of_kind(dev, "StatefulSet")
    conf_map = next(
        v["configMap"]["name"]
        for v in redis["spec"]["template"]["spec"]["volumes"]
        if "configMap" in v
    )
    conf = by_name(dev, "ConfigMap")[conf_map]["data"]["redis.conf"]
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^appendfsync everysec$", conf, re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, re.M)
    assert re.search(r"^auto-aof-rewrite-min-size 256mb$", conf, re.M)
    (url_secret,) = of_kind(dev, "Secret")
    assert url_secret["metadata"]["name"].startswith("clawbus-redis")
    for overlay in ("prod", "prod-hpa"):
        assert not of_kind(rendered(overlay), "StatefulSet"), "production uses an external Redis"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_tagged(overlay: str) -> None:
    for workload in workloads(rendered(overlay)):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            image = container["image"]
            assert re.search(r":[\w.-]+$", image.rsplit("/", 1)[-1]), f"untagged image {image}"
            assert not image.endswith(":latest"), image


def _ingress_matches(ingress: dict[str, Any], path: str) -> bool:
    for rule in ingress["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            if p["pathType"] == "Exact" and path == p["path"]:
                return True
            if p["pathType"] == "Prefix":
                prefix = p["path"].rstrip("/")
                if path == prefix or path.startswith(prefix + "/"):
                    return True
    return False


@pytest.mark.parametrize("overlay", ("prod", "prod-hpa"))
def test_the_public_ingress_routes_callers_and_not_metrics(overlay: str) -> None:
    (ingress,) = of_kind(rendered(overlay), "Ingress")
    public = ("/", "/ws", "/webchat/conversations", "/v1/messages", "/slack/events")
    for path in (*public, "/telegram/webhook"):
        assert _ingress_matches(ingress, path), path
    for path in ("/metrics", "/healthz", "/readyz", "/metricsx"):
        assert not _ingress_matches(ingress, path), path
