"""docker-compose.yml, checked by the real Compose v2 binary (`docker compose config`)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.asyncio import Redis

from clawbus.embedded import AOF_REWRITE_MIN_SIZE
from tests.deploy.tools import REPO, SERVICES, allowed_env_names, compose_binary, run

ENV_EXAMPLE = REPO / ".env.example"
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def compose_config(project: Path) -> dict[str, Any]:
    """`docker compose config` as JSON for the compose file in `project`."""
    out = run(
        [compose_binary(), "-f", str(project / "docker-compose.yml"), "config", "--format", "json"],
        cwd=project,
    )
    config: dict[str, Any] = json.loads(out)
    return config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of docker-compose.yml alone, so a developer's own .env does not leak in."""
    shutil.copy(REPO / "docker-compose.yml", tmp_path)
    return tmp_path


def example_lines() -> list[tuple[str, str, bool]]:
    """(key, value, commented out) for every KEY=value line of .env.example."""
    found = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2), line.startswith("#")))
    return found


def example_assignments() -> dict[str, str]:
    return {key: value for key, value, _ in example_lines()}


def test_compose_config_is_valid() -> None:
    run([compose_binary(), "-f", "docker-compose.yml", "config", "-q"])


def test_compose_config_with_a_filled_env_file(project: Path) -> None:
    """With .env made from .env.example, every clawbus service receives its values."""
    lines = [f"{key}=value-{i}" for i, key in enumerate(example_assignments())]
    (project / ".env").write_text("\n".join(lines) + "\n")
    config = compose_config(project)
    for name in SERVICES:
        env = config["services"][name]["environment"]
        assert env["CLAWBUS_ANTHROPIC_API_KEY"].startswith("value-")
        assert env["CLAWBUS_REDIS_URL"] == env_value(lines, "CLAWBUS_REDIS_URL")


def env_value(lines: list[str], key: str) -> str:
    return next(line.split("=", 1)[1] for line in lines if line.startswith(key + "="))


def test_services_wait_for_a_healthy_redis_and_report_health(project: Path) -> None:
    config = compose_config(project)
    services = config["services"]
    redis = services["redis"]
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    for name, port in SERVICES.items():
        service = services[name]
        assert service["command"] == ["python", "-m", name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["environment"]["CLAWBUS_HTTP_PORT"] == str(port)
        assert service["environment"]["CLAWBUS_HTTP_HOST"] == "0.0.0.0"
        probe = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in probe and "urllib" in probe
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert service["stop_grace_period"] == "30s"


def test_redis_keeps_an_append_only_file() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["redis"]["volumes"]
    conf_path = next(m.split(":")[0] for m in mounts if m.endswith("redis.conf:ro"))
    conf = dict(
        line.split(None, 1)
        for line in (REPO / conf_path).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["auto-aof-rewrite-min-size"] == AOF_REWRITE_MIN_SIZE


async def test_embedded_redis_persists_as_the_deployed_one(redis: Redis) -> None:
    """``clawbus up``'s own server keeps the AOF as compose's and the cluster's does."""
    got: dict[str, str] = {}
    for name in ("appendonly", "appendfsync", "auto-aof-rewrite-min-size"):
        reply = await redis.config_get(name)
        got |= {_text(k): _text(v) for k, v in reply.items()}
    assert got == {
        "appendonly": "yes",
        "appendfsync": "everysec",
        "auto-aof-rewrite-min-size": str(256 * 1024 * 1024),
    }


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_the_router_yields_the_cores_to_the_stages_after_it(project: Path) -> None:
    services = compose_config(project)["services"]
    assert 0 < services["router"]["cpu_shares"] < 1024  # Docker's default weight
    for name in ("worker", "delivery"):
        assert "cpu_shares" not in services[name]


def test_prometheus_scrapes_every_service_on_its_port(project: Path) -> None:
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = {}
    for job in prometheus["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            targets[job["job_name"]] = (sd["names"], sd["port"])
    assert targets == {f"clawbus-{name}": ([name], port) for name, port in SERVICES.items()}
    compose = compose_config(project)
    mounts = {v["target"]: v["source"] for v in compose["services"]["prometheus"]["volumes"]}
    assert Path(mounts["/etc/prometheus"]) == project / "deploy" / "prometheus"


def test_env_var_names_are_real_settings(project: Path) -> None:
    allowed = allowed_env_names()
    config = compose_config(project)
    for name in SERVICES:
        unknown = set(config["services"][name]["environment"]) - allowed
        assert not unknown, f"compose service {name} sets unknown variables {unknown}"
    compose_only = set(re.findall(r"\$\{([A-Z0-9_]+)", (REPO / "docker-compose.yml").read_text()))
    unknown = set(example_assignments()) - allowed - compose_only
    assert not unknown, f".env.example names unknown variables {unknown}"
    undocumented = compose_only - set(example_assignments())
    assert not undocumented, (
        f"variables used by docker-compose.yml missing from .env.example: {undocumented}"
    )


SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD")


@pytest.mark.parametrize(
    ("key", "value", "commented"),
    [line for line in example_lines() if any(word in line[0] for word in SECRET_WORDS)],
    ids=lambda v: str(v),
)
def test_env_example_ships_no_secret_values(key: str, value: str, commented: bool) -> None:
    assert commented, f"{key} must stay commented out in .env.example"
    assert value == "", f"{key} must have no example value in .env.example"
