"""The tradebot-tui application: five screens as modes over one engine in guest mode."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import ClassVar

import outcome
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message

from tradebot_tui.config.locations import Locations
from tradebot_tui.config.schema import Settings
from tradebot_tui.engine.commands import Command, TogglePause
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.host import GuestRun
from tradebot_tui.engine.logs import LogRing
from tradebot_tui.engine.snapshot import EngineSnapshot
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.screens.config import ConfigScreen
from tradebot_tui.ui.screens.logs import LogsScreen
from tradebot_tui.ui.screens.orders import OrdersScreen
from tradebot_tui.ui.screens.positions import PositionsScreen
from tradebot_tui.ui.screens.watchlist import WatchlistScreen
from tradebot_tui.ui.themes import load_themes

EngineFactory = Callable[[Callable[[EngineSnapshot], None], LogRing], Engine]
FALLBACK_THEME = "midnight"
_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class SnapshotReady(Message):
    """The engine published a new snapshot."""

    def __init__(self, snapshot: EngineSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class TradebotApp(App[None]):
    """The full-screen trading desk."""

    TITLE = "tradebot-tui"
    MODES: ClassVar[dict[str, type[TradebotScreen]]] = {  # type: ignore[assignment]
        "watchlist": WatchlistScreen,
        "positions": PositionsScreen,
        "orders": OrdersScreen,
        "logs": LogsScreen,
        "config": ConfigScreen,
    }
    DEFAULT_MODE = "watchlist"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "switch_mode('watchlist')", "Watchlist", tooltip="Prices and triggers"),
        Binding("p", "switch_mode('positions')", "Positions", tooltip="Open positions"),
        Binding("o", "switch_mode('orders')", "Orders", tooltip="Orders placed"),
        Binding("l", "switch_mode('logs')", "Logs", tooltip="Engine log"),
        Binding("c", "switch_mode('config')", "Config", tooltip="Settings in effect"),
        Binding("space", "toggle_pause", "Pause/Resume", tooltip="Pause or resume new entries"),
        Binding("q", "quit", "Quit", tooltip="Stop the engine and leave"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        settings: Settings,
        locations: Locations,
        engine_factory: EngineFactory,
        *,
        config_note: str = "",
        credentials_note: str = "",
        live: bool = False,
    ) -> None:
        super().__init__()
        self.live = live
        self.settings = settings
        self.locations = locations
        self.config_note = config_note
        self.credentials_note = credentials_note
        self.mode_label = "LIVE" if live else "PAPER"
        self.log_ring = LogRing()
        self.snapshot: EngineSnapshot | None = None
        self.engine_error: BaseException | None = None
        self._engine_factory = engine_factory
        self._run: GuestRun | None = None
        self._quitting = False
        self._signals_installed: list[signal.Signals] = []

    # -- lifecycle -------------------------------------------------------------------------

    def on_load(self) -> None:
        # Load comes before Textual takes over the terminal: from here on a stop signal
        # becomes an orderly quit, never a kill that leaves the terminal in raw mode.
        self._install_signal_handlers()

    def on_mount(self) -> None:
        self._load_themes()
        self.log_ring.attach()
        if self.live:
            from tradebot_tui.ui.screens.confirm_live import ConfirmLiveScreen

            self.push_screen(
                ConfirmLiveScreen(self.settings, self.credentials_note), self._live_answer
            )
            return
        self._start_engine()

    def _live_answer(self, confirmed: bool | None) -> None:
        if confirmed:
            self._start_engine()
        else:
            self.exit(return_code=2, message="live trading not confirmed; nothing was sent")

    def _start_engine(self) -> None:
        engine = self._engine_factory(self._publish, self.log_ring)
        self._run = GuestRun(engine, on_done=self._engine_done)
        self._run.start()

    async def on_unmount(self) -> None:
        # Safety net for every way out (an exception in the UI included): the guest run
        # must end before the loop does.
        if self._run is not None:
            await self._run.stop()
        self.log_ring.detach()
        self._remove_signal_handlers()

    def _load_themes(self) -> None:
        themes, errors = load_themes(self.locations.themes_dir)
        for theme in themes:
            self.register_theme(theme)
        wanted = self.settings.ui.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            errors.append(f"theme {wanted!r} not found; using {FALLBACK_THEME}")
            self.theme = FALLBACK_THEME
        if errors:
            self.notify("\n".join(errors), title="Theme problems", severity="warning", timeout=10)

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            try:
                loop.add_signal_handler(sig, self._on_signal)
            except (RuntimeError, ValueError):  # not the main thread
                continue
            self._signals_installed.append(sig)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals_installed:
            loop.remove_signal_handler(sig)
            if not self.is_headless:
                # The process is on its way out: a late signal must not kill it before
                # the terminal is restored.
                signal.signal(sig, signal.SIG_IGN)
        self._signals_installed.clear()

    def _on_signal(self) -> None:
        self.call_later(self.action_quit)

    # -- engine ----------------------------------------------------------------------------

    def _publish(self, snapshot: EngineSnapshot) -> None:
        self.post_message(SnapshotReady(snapshot))

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.snapshot = message.snapshot
        screen = self.screen
        if isinstance(screen, TradebotScreen):
            screen.show(message.snapshot)

    def _engine_done(self, result: outcome.Outcome[None]) -> None:
        if self.return_code is not None:
            return  # the app is already on its way out (quit, or an error in the UI)
        if isinstance(result, outcome.Error) and not isinstance(
            result.error, asyncio.CancelledError
        ):
            self.engine_error = result.error
            self.exit(return_code=1)
        elif not self._quitting:
            # The engine ended by itself without an error: nothing left to show.
            self.exit()

    def send_command(self, command: Command) -> bool:
        """Hand a control command to the engine."""
        if self._run is None or not self._run.submit(command):
            self.notify("The engine is not running.", severity="error")
            return False
        return True

    # -- actions ---------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.send_command(TogglePause())

    async def action_quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        if self._run is not None:
            await self._run.stop()
        self.exit(return_code=1 if self.engine_error else 0)
