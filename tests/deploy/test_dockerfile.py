"""The image: hadolint, the multi-stage layout, and the build stage's uv steps run for real."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.deploy.tools import REPO, SERVICES, require_tool, run

DOCKERFILE = REPO / "Dockerfile"


def stages() -> list[list[tuple[str, str]]]:
    """Instructions per stage as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, args.strip()))
    return out


def workspace_members() -> list[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    members: list[str] = []
    for pattern in pyproject["tool"]["uv"]["workspace"]["members"]:
        members += sorted(
            str(p.parent.relative_to(REPO)) for p in REPO.glob(f"{pattern}/pyproject.toml")
        )
    return members


def replay_copy(args: str, root: Path) -> None:
    """Docker COPY semantics: a directory's contents go into dest; files go into dest/."""
    *sources, dest = args.split()
    target = root / dest
    for source in sources:
        origin = REPO / source
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "tests", ".*")
            shutil.copytree(origin, target, dirs_exist_ok=True, ignore=ignore)
        elif dest.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


def test_hadolint_passes() -> None:
    run([require_tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)])


def test_final_stage_is_minimal_and_non_root() -> None:
    *_, final = stages()
    keywords = [k for k, _ in final]
    assert keywords[0] == "FROM"
    users = [args for k, args in final if k == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    copies = [args for k, args in final if k == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), (
        "the final stage copies only built artefacts from earlier stages"
    )
    runs = " ".join(args for k, args in final if k == "RUN")
    for tool in ("uv ", "pip ", "apt-get install", "gcc", "build-essential"):
        assert tool not in runs, f"no build tooling in the final stage: {tool!r}"
    cmd = next(args for k, args in reversed(final) if k == "CMD")
    assert cmd.startswith("["), "exec-form CMD, so the service is PID 1 and gets SIGTERM"


def test_build_copies_every_workspace_member_manifest() -> None:
    build = stages()[1]
    copied = {args.split()[0] for k, args in build if k == "COPY" and "--from" not in args}
    assert {"pyproject.toml", "uv.lock"} <= set(
        next(args for k, args in build if k == "COPY" and "uv.lock" in args).split()
    )
    missing = [m for m in workspace_members() if f"{m}/pyproject.toml" not in copied]
    assert not missing, f"Dockerfile does not COPY these members' pyproject.toml: {missing}"
    syncs = [args for k, args in build if k == "RUN" and "uv sync" in args]
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)


@pytest.mark.slow
def test_build_stage_installs_every_service_from_the_lock(tmp_path: Path) -> None:
    """Replays the build stage's COPY and `uv sync` steps into a scratch dir, with the
    local Python standing in for the base image, then imports every service."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH; install it: pip install uv")
    build = stages()[1]
    src = tmp_path / "src"
    src.mkdir()
    venv = tmp_path / "venv"
    env = {
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "copy",
        "UV_PYTHON": str(Path(os.path.realpath(REPO / ".venv" / "bin" / "python"))),
        "UV_COMPILE_BYTECODE": "0",
    }
    steps = 0
    for keyword, args in build:
        if keyword == "COPY" and "--from" not in args:
            replay_copy(args, src)
        elif keyword == "RUN" and "uv sync" in args:
            command = shlex.split(args[args.index("uv sync") :])
            run([uv, *command[1:]], cwd=src, env=env)
            steps += 1
    assert steps == 2, "expected a dependencies-only sync, then the workspace sync"
    # Every service's entry point and every packaged file (the web chat page, ...) must be
    # in the virtualenv itself: the final stage has no source tree.
    packaged = [
        str(path.relative_to(REPO / member / "src"))
        for member in workspace_members()
        for path in (REPO / member / "src").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    check = f"""
import importlib.util, pathlib, sys, sysconfig
site = pathlib.Path(sysconfig.get_paths()["purelib"])
for name in {sorted(SERVICES)!r}:
    assert importlib.util.find_spec(name + ".__main__"), name
import common.settings, clawbus
missing = [p for p in {sorted(packaged)!r} if not (site / p).is_file()]
assert not missing, missing
assert not any(p.suffix == ".pth" and "src" in p.read_text() for p in site.glob("*.pth")), "editable"
"""
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", check],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `**/` spans directories, `*` and `?` do not."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out of the build context: it or a parent directory
    matches a pattern; the last matching pattern wins (`!` re-includes)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        regex = pattern_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not pattern.startswith("!")
    return excluded


def test_dockerignore_keeps_sources_and_drops_secrets() -> None:
    patterns = dockerignore_patterns()
    needed = [
        "pyproject.toml",
        "uv.lock",
        *[f"{member}/pyproject.toml" for member in workspace_members()],
        *[
            str(path.relative_to(REPO))
            for member in workspace_members()
            for path in (REPO / member / "src").rglob("*.py")
            if "__pycache__" not in path.parts
        ],
    ]
    wrongly_ignored = [path for path in needed if ignored(path, patterns)]
    assert not wrongly_ignored, f".dockerignore drops files the build needs: {wrongly_ignored}"
    for secret in (".env", ".env.local", ".venv/bin/python", ".git/config"):
        assert ignored(secret, patterns), f".dockerignore must exclude {secret}"
