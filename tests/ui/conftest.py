"""An app over a seeded simulated market in virtual time, with fixed file locations."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

from tests.helpers import sim_engine
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.data.files import read_file
from tradebot_tui.engine.replay_source import ReplaySource
from tradebot_tui.ui.app import TradebotApp
from tradebot_tui.wiring.replay import replay_engine

# Fixed paths (never written by the app itself) so that screens render the same anywhere.
HOME = Path("/home/trader")
LOCATIONS = Locations(
    config_file=HOME / ".config/tradebot-tui/config.toml",
    config_explicit=False,
    secrets_file=HOME / ".config/tradebot-tui/secrets.toml",
    themes_dir=HOME / ".config/tradebot-tui/themes",
    data_dir=HOME / ".local/share/tradebot-tui",
    journals_dir=HOME / ".local/share/tradebot-tui/journals",
    recordings_dir=HOME / ".local/share/tradebot-tui/recordings",
    log_dir=HOME / ".local/state/tradebot-tui/log",
)


def make_app(
    settings: Settings | None = None,
    *,
    steps: int = 900,
    theme: str | None = None,
    realtime: bool = False,
    crash_after_s: float | None = None,
    locations: Locations = LOCATIONS,
    live: bool = False,
) -> TradebotApp:
    settings = settings or Settings()
    if theme is not None:
        settings = replace(settings, ui=replace(settings.ui, theme=theme))

    factory = partial(
        sim_engine,
        settings,
        steps=steps,
        realtime=realtime,
        interval_ms=250 if realtime else 1000,
        crash_after_s=crash_after_s,
    )
    return TradebotApp(
        settings,
        locations,
        factory,
        credentials_note="API keys: none found (paper trading needs none)",
        live=live,
    )


def make_replay_app(
    data: Path, *, speed: float, paused: bool = False, theme: str | None = None
) -> TradebotApp:
    """The app over a replay of `data`, as `tradebot-tui replay --tui` builds it."""
    settings = Settings()
    if theme is not None:
        settings = replace(settings, ui=replace(settings.ui, theme=theme))
    factory = replay_engine(settings, ReplaySource([read_file(data)], speed=speed, paused=paused))
    return TradebotApp(
        settings, LOCATIONS, factory, replay=True, credentials_note=f"replaying {data.name}"
    )
