"""Loading the config: the built-in default, a named file, and a named file that is not there."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from common.config import DEFAULT_CONFIG, ConfigError, load_config
from common.context import Context
from common.settings import Settings
from tests.support import DEFAULT_CONFIG_FILE


def test_the_test_suites_default_config_file_is_the_built_in_default() -> None:
    assert yaml.safe_load(Path(DEFAULT_CONFIG_FILE).read_text()) == DEFAULT_CONFIG
    assert load_config(Path(DEFAULT_CONFIG_FILE)) == load_config(None)


def test_a_named_config_that_is_not_there_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no clawbus.yaml here
    missing = tmp_path / "etc" / "clawbus.yaml"
    monkeypatch.setenv("CLAWBUS_CONFIG_PATH", str(missing))
    with pytest.raises(ConfigError, match="does not exist \\(CLAWBUS_CONFIG_PATH names it\\)"):
        Context.create(Settings())
    # unset, a missing clawbus.yaml means the built-in default
    monkeypatch.delenv("CLAWBUS_CONFIG_PATH")
    assert load_config(Settings().config_path, required=False) == load_config(None)
    assert [w.chat for w in load_config(None).wiring] == ["web", "http"]


@pytest.mark.parametrize("namespace", ["", "a{b}", "a:b", "x" * 65, "sp ace"])
def test_a_namespace_that_would_break_the_hash_tag_is_refused(
    namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAWBUS_NAMESPACE", namespace)
    with pytest.raises(ValidationError, match="namespace"):
        Settings()
