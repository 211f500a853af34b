"""Where tradebot-tui keeps its files: one place that asks platformdirs.

`tradebot-tui locate` prints these. `--config FILE` or `TRADEBOT_CONFIG` choose another
config file; the other locations follow platformdirs (and so the XDG variables on Linux).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "tradebot-tui"
CONFIG_ENV = "TRADEBOT_CONFIG"


@dataclass(frozen=True, slots=True)
class Locations:
    """Every file and folder the app uses."""

    config_file: Path
    config_explicit: bool
    secrets_file: Path
    themes_dir: Path
    data_dir: Path
    journals_dir: Path
    recordings_dir: Path
    log_dir: Path

    def journal(self, mode: str, profile: str) -> Path:
        """The journal of one mode ("paper" or "live") and profile: separate files, the
        same schema."""
        return self.journals_dir / f"{mode}-{profile}.db"

    @property
    def history_dir(self) -> Path:
        """Downloaded candles, one folder per exchange in freqtrade's layout
        (`history/binance/BTC_USDT-1m.feather`)."""
        return self.data_dir / "history"

    @property
    def legacy_journal(self) -> Path:
        """Where versions before per-mode journals kept the live journal."""
        return self.data_dir / "state.db"

    def config_note(self) -> str:
        """The config file in a line, once the settings were read: the file, or that there
        is none and the defaults apply (read again each time: a save creates it)."""
        path = self.config_file
        if path.exists():
            return f"config: {path} is valid"
        return (
            f"config: no file at {path}; the defaults apply (create one: tradebot-tui config init)"
        )

    def as_rows(self) -> list[tuple[str, Path]]:
        return [
            ("config", self.config_file),
            ("secrets", self.secrets_file),
            ("themes", self.themes_dir),
            ("data", self.data_dir),
            ("journals", self.journals_dir),
            ("recordings", self.recordings_dir),
            ("history", self.history_dir),
            ("logs", self.log_dir),
        ]


def locate(config: str | os.PathLike[str] | None = None) -> Locations:
    """Resolve the locations; `config` (from --config) wins over TRADEBOT_CONFIG."""
    dirs = PlatformDirs(APP_NAME, appauthor=False)
    config_dir = Path(dirs.user_config_dir)
    data_dir = Path(dirs.user_data_dir)
    chosen = config if config is not None else os.environ.get(CONFIG_ENV) or None
    config_file = Path(chosen).expanduser() if chosen else config_dir / "config.toml"
    return Locations(
        config_file=config_file,
        config_explicit=chosen is not None,
        secrets_file=config_dir / "secrets.toml",
        themes_dir=config_dir / "themes",
        data_dir=data_dir,
        journals_dir=data_dir / "journals",
        recordings_dir=data_dir / "recordings",
        log_dir=Path(dirs.user_log_dir),
    )
