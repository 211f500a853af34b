"""Reading and writing config files: errors name the file, bad files change nothing."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tradebot_tui.config.settings import Settings
from tradebot_tui.config.store import (
    commented_defaults,
    dumps,
    init_config,
    load_settings,
    save_settings,
)
from tradebot_tui.config.validate import ConfigError


def test_missing_default_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "none.toml", required=False) == Settings()


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"none\.toml: file not found"):
        load_settings(tmp_path / "none.toml", required=True)


def test_syntax_error_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[strategy]\ntrigger_pct = = 2\n")
    with pytest.raises(ConfigError, match=r"c.toml: TOML syntax error: .*line 2"):
        load_settings(path, required=True)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"[strategy]\n\xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, required=True)


def test_save_is_atomic_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    settings = Settings()
    save_settings(path, settings)
    assert load_settings(path, required=True) == settings
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp file left
    assert tomllib.loads(dumps(settings))["strategy"]["anchor"] == "hybrid"


def test_init_writes_commented_defaults_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    init_config(path)
    text = path.read_text()
    assert load_settings(path, required=True) == Settings()
    assert "# Buy when the price is this far below the anchor (in percent)." in text
    with pytest.raises(ConfigError, match="exists already"):
        init_config(path)
    path.write_text("# mine\n")
    with pytest.raises(ConfigError):
        init_config(path)
    assert path.read_text() == "# mine\n"
    init_config(path, force=True)
    assert path.read_text() == text


def test_commented_defaults_cover_every_field() -> None:
    data = tomllib.loads(commented_defaults())
    from tradebot_tui.config.validate import fields

    for info in fields():
        assert info.name in data[info.section], info.path
