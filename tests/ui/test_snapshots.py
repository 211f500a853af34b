"""Snapshot tests: every screen on seeded data, in a dark and a light theme."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cache

import pytest
from textual.pilot import Pilot

from tests.helpers import expected_live_ticks
from tests.ui.conftest import make_app
from tradebot_tui.config.settings import Settings
from tradebot_tui.engine.snapshot import RunState
from tradebot_tui.ui.app import TradebotApp

THEMES = ["midnight", "daylight"]
SIZE = (130, 36)
STEPS = 900  # fifteen simulated minutes: positions open, orders filled, cooldowns running

SnapCompare = Callable[..., bool]


@cache
def total_ticks() -> int:
    return expected_live_ticks(Settings(), steps=STEPS)


def settled(*keys: str, state: RunState = RunState.RUNNING) -> Callable[[Pilot], Awaitable[None]]:
    """Wait until the engine has processed every simulated tick, then press `keys`."""

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, TradebotApp)

        async def poll() -> None:
            while not (
                app.snapshot is not None
                and app.snapshot.ticks == total_ticks()
                and app.snapshot.state is state
            ):
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), 20)
        await pilot.pause()
        # Toasts of the run's fills come and go with the wall clock: not in the pictures.
        app.clear_notifications()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        # The config form is built a few rows per frame.
        await _until(lambda: getattr(app.screen, "form_ready", True))
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("theme", THEMES)
class TestWatchlist:
    def test_watchlist(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled())

    def test_watchlist_paused(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)

        async def run_before(pilot: Pilot) -> None:
            await settled()(pilot)
            await pilot.press("space")
            await settled(state=RunState.PAUSED)(pilot)

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
class TestPositions:
    def test_positions(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("p"))


@pytest.mark.parametrize("theme", THEMES)
class TestOrders:
    def test_orders(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("o"))


@pytest.mark.parametrize("theme", THEMES)
class TestHistory:
    def test_history(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("h"))


@pytest.mark.parametrize("theme", THEMES)
class TestLogs:
    def test_logs(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("l"))


@pytest.mark.parametrize("theme", THEMES)
class TestConfig:
    def test_config(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("c"))


@pytest.mark.parametrize("theme", THEMES)
class TestCharts:
    def test_charts(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)

        async def run_before(pilot: Pilot) -> None:
            await settled()(pilot)
            assert isinstance(pilot.app, TradebotApp)
            await pilot.press("down", "down", "enter")  # the third coin's chart
            await _until(lambda: pilot.app.snapshot.focus is not None)  # type: ignore[attr-defined]
            await pilot.pause()

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
class TestWatchlistTools:
    def test_sorted_by_drop_and_filtered(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        keys = ("4", "slash", "d", "o", "enter")
        assert snap_compare(app, terminal_size=SIZE, run_before=settled(*keys))


@pytest.mark.parametrize("theme", THEMES)
class TestDialogs:
    def test_exit_one(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("p", "e"))

    def test_exit_all(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("p", "E"))

    def test_help(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("question_mark"))

    def test_theme_picker(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)
        assert snap_compare(app, terminal_size=SIZE, run_before=settled("t"))

    def test_config_diff_before_saving(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)

        async def run_before(pilot: Pilot) -> None:
            await settled("c")(pilot)
            from textual.widgets import Input

            pilot.app.screen.query_one("#edit-strategy--trigger_pct", Input).value = "3"
            await pilot.press("right_square_bracket", "right_square_bracket")  # exits
            await pilot.pause()
            pilot.app.screen.query_one("#edit-exits--stop_loss_pct", Input).value = "4.5"
            await pilot.pause()
            await pilot.press("ctrl+s")
            await pilot.pause()

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)

    def test_config_field_error(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS)

        async def run_before(pilot: Pilot) -> None:
            await settled("c")(pilot)
            from textual.widgets import Input

            box = pilot.app.screen.query_one("#edit-strategy--trigger_pct", Input)
            box.focus()
            box.value = "120"
            await pilot.pause()

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
class TestConfirmLive:
    def test_confirm_live(self, snap_compare: SnapCompare, theme: str) -> None:
        app = make_app(theme=theme, steps=STEPS, live=True)

        async def typed(pilot: Pilot) -> None:
            await pilot.pause()
            await pilot.press("L", "I")

        assert snap_compare(app, terminal_size=SIZE, run_before=typed)


async def _until(cond: Callable[[], bool], timeout: float = 10) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


@pytest.mark.parametrize("theme", THEMES)
class TestReplay:
    def test_replay_done(self, snap_compare: SnapCompare, theme: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
        from tests.helpers import saw_tooth_file
        from tests.ui.conftest import make_replay_app
        from tradebot_tui.engine.replay_source import SPEEDS

        app = make_replay_app(saw_tooth_file(tmp_path), speed=SPEEDS[-1], theme=theme)

        async def run_before(pilot: Pilot) -> None:
            await _until(
                lambda: (
                    app.snapshot is not None
                    and app.snapshot.replay is not None
                    and app.snapshot.replay.done
                ),
                30,
            )
            await pilot.pause()
            app.clear_notifications()
            await pilot.pause()

        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
