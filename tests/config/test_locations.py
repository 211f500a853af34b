"""File locations: platformdirs by default, --config and TRADEBOT_CONFIG override."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradebot_tui.config.locations import CONFIG_ENV, locate


def test_defaults_follow_xdg(isolated_home: Path) -> None:
    loc = locate()
    assert loc.config_file == isolated_home / "config" / "tradebot-tui" / "config.toml"
    assert not loc.config_explicit
    assert loc.journal("paper", "bot1") == loc.data_dir / "journals" / "paper-bot1.db"
    assert loc.journal("live", "bot1") != loc.journal("paper", "bot1")
    assert str(loc.log_dir).startswith(str(isolated_home / "state"))


def test_env_and_flag_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "env.toml"))
    assert locate().config_file == tmp_path / "env.toml"
    assert locate().config_explicit
    assert locate(tmp_path / "flag.toml").config_file == tmp_path / "flag.toml"
