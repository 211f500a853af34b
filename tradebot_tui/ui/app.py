"""The tradebot-tui application: five screens as modes over one engine in guest mode."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable, Iterable
from dataclasses import replace
from importlib import import_module
from pathlib import PurePath
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.message import Message
from textual.screen import Screen
from textual.widget import AwaitMount

from tradebot_tui.assets import stylesheet
from tradebot_tui.config import validate
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.store import save_settings
from tradebot_tui.config.validate import ConfigError
from tradebot_tui.core.errors import TradebotError
from tradebot_tui.engine import LogRing
from tradebot_tui.ui import upkeep
from tradebot_tui.ui.help import help_sections, system_commands
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.screens.watchlist import WatchlistScreen
from tradebot_tui.ui.themes import load_themes, shipped_theme_files
from tradebot_tui.ui.toasts import Toasts

if TYPE_CHECKING:
    import outcome

    from tradebot_tui.engine import (
        Command,
        Engine,
        EngineSnapshot,
        GuestRun,
        ReplayAction,
        WatchRow,
    )

# Builds the engine the app runs; called with the keywords `publish` and `log_ring`
# (a functools.partial of Engine fits).
EngineFactory = Callable[..., "Engine"]
FALLBACK_THEME = "midnight"
_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
# The screens not needed for the first frame are imported this long after it.
PRELOAD_AFTER_S = 0.5
FIRST_FRAME_OUT_S = 0.005
SETTLE_AFTER_BUILD_S = 1.0  # a new screen's widgets are left to the GC this long after


def _lazy_screen(mode: str) -> Callable[[], Screen[None]]:
    """A mode's screen, imported when the mode is first opened.

    Only the watchlist is needed for the first frame; the other screens' modules are
    imported after it (see `_preload_screens`) or on first use, whichever comes first.
    """

    def make() -> Screen[None]:
        return screen_class(mode)()

    return make


def screen_class(mode: str) -> type[TradebotScreen]:
    """The screen class of a mode (importing its module if it is not yet)."""
    if mode == "watchlist":
        return WatchlistScreen
    module, name = LAZY_SCREENS[mode]
    found: type[TradebotScreen] = getattr(import_module(module), name)
    return found


LAZY_SCREENS = {
    "positions": ("tradebot_tui.ui.screens.positions", "PositionsScreen"),
    "orders": ("tradebot_tui.ui.screens.orders", "OrdersScreen"),
    "logs": ("tradebot_tui.ui.screens.logs", "LogsScreen"),
    "config": ("tradebot_tui.ui.screens.config", "ConfigScreen"),
    "charts": ("tradebot_tui.ui.screens.charts", "ChartsScreen"),
    "history": ("tradebot_tui.ui.screens.history", "HistoryScreen"),
}


class SnapshotReady(Message):
    """The engine published a new snapshot."""

    def __init__(self, snapshot: EngineSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class TradebotApp(App[None]):
    """The full-screen trading desk."""

    TITLE = "tradebot-tui"
    # Parsed with the app's, before the first frame: the stylesheets of the screens a
    # start can show. The others are parsed together once the first prices are up
    # (`upkeep.load_other_stylesheets`): loaded by each screen on its first visit, a
    # stylesheet made Textual parse all of them again (60-100 ms of each first visit).
    CSS_PATH: ClassVar[list[str | PurePath]] = [
        stylesheet(name) for name in ("watchlist", "confirm_live")
    ]
    MODES: ClassVar[dict[str, str | Callable[[], Screen[None]]]] = {
        "watchlist": WatchlistScreen,
        **{mode: _lazy_screen(mode) for mode in LAZY_SCREENS},
    }
    DEFAULT_MODE = "watchlist"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "switch_mode('watchlist')", "Watchlist", tooltip="Prices and triggers"),
        Binding("p", "switch_mode('positions')", "Positions", tooltip="Open positions"),
        Binding("o", "switch_mode('orders')", "Orders", tooltip="Orders placed"),
        Binding("l", "switch_mode('logs')", "Logs", tooltip="Engine log"),
        Binding("c", "switch_mode('config')", "Config", tooltip="Edit and save the settings"),
        Binding("g", "switch_mode('charts')", "Charts", tooltip="Equity and price charts"),
        Binding("h", "switch_mode('history')", "History", tooltip="Closed trades, PnL per day"),
        Binding("space", "toggle_pause", "Pause/Resume", tooltip="Pause or resume new entries"),
        Binding("r", "replay('pause')", "Play/Pause", tooltip="Pause or resume the replay"),
        Binding("n", "replay('step')", "Step", tooltip="Paused replay: one minute forward"),
        Binding("plus,equals_sign", "replay('faster')", "Faster", tooltip="Replay twice as fast"),
        Binding("minus", "replay('slower')", "Slower", tooltip="Replay half as fast"),
        Binding("t", "pick_theme", "Theme", tooltip="Choose a colour theme (saved)"),
        Binding("question_mark,f1", "help", "Help", tooltip="Every key of this screen"),
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
        credentials_note: str = "",
        live: bool = False,
        replay: bool = False,
        preview: tuple[WatchRow, ...] = (),
    ) -> None:
        """The desk for a run of the bot.

        Args:
            engine_factory: Builds the engine, once the first frame is drawn.
            preview: Watchlist rows shown until the engine's first snapshot (the prices
                the simulated market opens at).
        """
        super().__init__()
        self.preview = preview
        self.live = live
        self.replaying = replay
        self.settings = settings
        self.locations = locations
        self.credentials_note = credentials_note
        self.mode_label = "LIVE" if live else "REPLAY" if replay else "PAPER"
        self.selected_symbol: str | None = None
        self.theme_origins: dict[str, str] = {}
        self._focused: str | None = None
        self.log_ring = LogRing()
        self._toasts = Toasts(self.log_ring)
        self.snapshot: EngineSnapshot | None = None
        self.engine_error: BaseException | None = None
        self._engine_factory = engine_factory
        self._run: GuestRun | None = None
        self._quitting = False
        self._preloaded = False
        self._theme_errors = self._load_themes()
        self._signals_installed: list[signal.Signals] = []

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        # Only in place of Textual's own Linux/macOS driver: not when TEXTUAL_DRIVER names
        # another, nor on Windows.
        if f"{driver.__module__}.{driver.__name__}" == "textual.drivers.linux_driver.LinuxDriver":
            from tradebot_tui.ui.driver import QuickExitDriver

            return QuickExitDriver
        return driver

    # -- lifecycle -------------------------------------------------------------------------

    def on_load(self) -> None:
        # Load comes before Textual takes over the terminal: from here on a stop signal
        # becomes an orderly quit, never a kill that leaves the terminal in raw mode.
        self._install_signal_handlers()

    def on_mount(self) -> None:
        if self._theme_errors:
            self.notify(
                "\n".join(self._theme_errors),
                title="Theme problems",
                severity="warning",
                timeout=10,
            )
        self.log_ring.attach()
        if self.live:
            from tradebot_tui.ui.screens.confirm_live import ConfirmLiveScreen

            self.push_screen(
                ConfirmLiveScreen(self.settings, self.credentials_note), self._live_answer
            )
            return
        # The first frame is drawn (with the preview's prices) before the engine is
        # imported and built: they are the larger part of a start. The short wait lets
        # Textual's writer thread put that frame on the terminal first: started at once,
        # the engine's imports held the interpreter lock and the frame came 15-20 ms later.
        self.call_after_refresh(self.set_timer, FIRST_FRAME_OUT_S, self._start_engine)

    def _live_answer(self, confirmed: bool | None) -> None:
        if confirmed:
            self._start_engine()
        else:
            self.exit(return_code=2, message="live trading not confirmed; nothing was sent")

    def _start_engine(self) -> None:
        gc.enable()  # off for the launch (`tradebot_tui.launch`); the first frame is out
        if self._quitting or self.return_code is not None:
            return  # left before the engine came
        from tradebot_tui.engine import GuestRun

        try:
            engine = self._engine_factory(publish=self._publish, log_ring=self.log_ring)
        except TradebotError as exc:  # the journal cannot be opened: say so, exit 2
            self.engine_error = exc
            self.exit(return_code=2)
            return
        self._run = GuestRun(engine, on_done=self._engine_done)
        self._run.start()

    async def on_unmount(self) -> None:
        # Safety net for every way out (an exception in the UI included): the guest run
        # must end before the loop does, and none may start after this (the engine's
        # start waits for the first frame: a way out before it left a run nobody ended).
        self._quitting = True
        if self._run is not None:
            await self._run.stop()
        self.log_ring.detach()
        self._remove_signal_handlers()

    def _load_themes(self) -> list[str]:
        themes, errors = load_themes(self.locations.themes_dir)
        shipped = {p.stem for p in shipped_theme_files()}
        for theme in themes:
            self.register_theme(theme)
            self.theme_origins[theme.name] = (
                "shipped" if theme.name in shipped else f"yours ({self.locations.themes_dir})"
            )
        wanted = self.settings.ui.theme
        if wanted not in self.available_themes:
            errors.append(f"theme {wanted!r} not found; using {FALLBACK_THEME}")
            wanted = FALLBACK_THEME
        # Called from __init__: the theme is set before the stylesheet is first parsed, so
        # it is parsed once with the theme's variables. What Textual's theme watcher would
        # do (classes, colour filter, variables) is done here, without the re-parse the
        # watcher schedules.
        self.set_reactive(TradebotApp.theme, wanted)
        dark = self.current_theme.dark
        classes = {name: False for name in self.classes if name.startswith("-theme-")}
        classes.update({f"-theme-{wanted}": True, "-dark-mode": dark, "-light-mode": not dark})
        self.update_classes(classes, update=False)
        self._refresh_truecolor_filter(self.ansi_theme)
        self.stylesheet.set_variables(self.get_css_variables())
        return errors

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
        snap = self.snapshot = message.snapshot
        if self.selected_symbol is None and snap.watch:
            self.selected_symbol = snap.watch[0].symbol
        if not self._preloaded and snap.watch:
            self._preloaded = True
            self.set_timer(PRELOAD_AFTER_S, self._preload_screens)
        screen = self.screen
        if isinstance(screen, TradebotScreen):
            screen.show(snap)
        else:  # a dialog on top: the screen under it stays current
            under = self.screen_stack[-2] if len(self.screen_stack) > 1 else None
            if isinstance(under, TradebotScreen):
                under.show(snap)
        self._toasts.show(self, snap)

    def _preload_screens(self) -> None:
        """Import the other screens' modules once the first prices are on screen."""
        for module, _name in LAZY_SCREENS.values():
            import_module(module)
        import_module("tradebot_tui.ui.screens.dialogs")
        upkeep.load_other_stylesheets(self)
        if not self.is_headless:
            gc.collect()  # the launch's garbage (collected late: `launch`) is not frozen
        self.settle_gc()
        if not self.is_headless:
            upkeep.schedule_full_gc(self)

    def settle_gc(self) -> None:
        """See `upkeep.settle_gc`: called once the first frame is up and again after
        each screen is built."""
        upkeep.settle_gc(self)

    def _engine_done(self, result: outcome.Outcome[None]) -> None:
        if self.return_code is not None:
            return  # the app is already on its way out (quit, or an error in the UI)
        import outcome  # loaded with trio by then

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

    # -- selection and settings ------------------------------------------------------------

    def select_symbol(self, symbol: str) -> None:
        """The symbol the charts show (the watchlist's or positions' cursor)."""
        self.selected_symbol = symbol
        if self._focused is not None:
            self.focus_engine(symbol)

    def chart(self, symbol: str) -> None:
        """Show the charts screen for `symbol`."""
        self.select_symbol(symbol)
        self.switch_mode("charts")

    def focus_engine(self, symbol: str | None) -> None:
        """Ask the engine for the chart data of `symbol` (None: of none)."""
        if symbol != self._focused:
            from tradebot_tui.engine import Focus

            self._focused = symbol
            self.send_command(Focus(symbol))

    def settings_saved(self, new: Settings) -> None:
        """The config screen wrote `new`: apply what a running engine can."""
        from tradebot_tui.engine import LIVE_SECTIONS, ApplySettings

        changed = validate.changed_sections(self.settings, new)
        self.settings = new
        if any(s in LIVE_SECTIONS for s in changed):
            self.send_command(ApplySettings(new))
        later = [s for s in changed if s not in LIVE_SECTIONS]
        note = f" {', '.join(later)} take effect on the next start." if later else ""
        self.notify(
            f"Saved to {self.locations.config_file}.{note}",
            title="Settings saved",
        )

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The replay controls are hidden outside replays.
        return self.replaying or action != "replay"

    def switch_mode(self, mode: str) -> AwaitMount:
        """Switch screens, the new one already showing the latest snapshot."""
        stack = self._screen_stacks.get(mode)
        if stack is None and mode in self.MODES:  # built now: its widgets live on
            self.set_timer(SETTLE_AFTER_BUILD_S, self.settle_gc)
        if stack and isinstance(stack[-1], TradebotScreen) and mode != self.current_mode:
            stack[-1].show(self.snapshot)
            stack[-1].restyle_on_resume = False
        return super().switch_mode(mode)

    def delay_update(self, delay: float = 0.05) -> None:
        """Textual holds every frame for 50 ms after a mode switch, to hide the change.

        Our screens are drawn whole on their first frame (`switch_mode` above), so the
        hold only adds latency to every key that changes screens. Not even a short one:
        a frame rendered while it holds is thrown away (`App._display` returns while a
        batch is open) and its end redraws the whole screen again, so a switch paid for
        two full renders (10-30 ms each at 160x48 under load) before anything showed.
        """

    def action_toggle_pause(self) -> None:
        from tradebot_tui.engine import TogglePause

        self.send_command(TogglePause())

    def action_replay(self, what: ReplayAction) -> None:
        from tradebot_tui.engine import ReplayControl

        self.send_command(ReplayControl(what))

    def help_sections(self, screen: Screen[object]) -> list[tuple[str, list[tuple[str, str]]]]:
        """(title, [(keys, what)]) for the screen's own bindings and the app's."""
        return help_sections(self, screen)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette offers every action of the app and of the current screen."""
        return system_commands(self, screen)

    def action_help(self) -> None:
        from tradebot_tui.ui.screens.dialogs import HelpScreen

        self.push_screen(HelpScreen(self.help_sections(self.screen)))

    def action_pick_theme(self) -> None:
        names = sorted(self.theme_origins.items())
        from tradebot_tui.ui.screens.dialogs import ThemePicker

        self.push_screen(ThemePicker(names, self.theme), self._theme_chosen)

    def _theme_chosen(self, name: str | None) -> None:
        if name is None or name == self.settings.ui.theme:
            return
        new = replace(self.settings, ui=replace(self.settings.ui, theme=name))
        path = self.locations.config_file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_settings(path, new)
        except (OSError, ConfigError) as exc:
            self.notify(f"{path}: {exc}", title="Theme not saved", severity="error")
            return
        self.settings = new
        self.notify(f"Theme {name!r} saved in {path}.", title="Theme")

    @property
    def left_open(self) -> str:
        """What the ended run left held and unguarded, in words ("" if nothing)."""
        return self._run.engine.left_open if self._run is not None else ""

    async def action_quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        if self._run is not None:
            await self._run.stop()
        self.exit(return_code=1 if self.engine_error else 0)
