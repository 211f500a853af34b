"""Pilot tests for the trading desk: every screen's bindings, the dialogs and the palette."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal as D
from functools import partial
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, RichLog, Select, Tab

from tests.helpers import expected_live_ticks, saw_tooth_file
from tests.ui.conftest import LOCATIONS, make_app, make_replay_app
from tests.ui.test_app import SIZE, status_text, until
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.book import Status
from tradebot_tui.core.display import fmt_money
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.engine import wording
from tradebot_tui.engine.snapshot import EngineSnapshot
from tradebot_tui.ui.app import TradebotApp
from tradebot_tui.ui.bindings import own_bindings as _bindings
from tradebot_tui.ui.screens.charts import ChartsScreen
from tradebot_tui.ui.screens.config import ConfigScreen
from tradebot_tui.ui.screens.dialogs import ConfirmDialog, HelpScreen, ThemePicker
from tradebot_tui.ui.screens.logs import LogsScreen
from tradebot_tui.ui.screens.orders import OrdersScreen
from tradebot_tui.ui.screens.positions import PositionsScreen
from tradebot_tui.ui.screens.watchlist import WatchlistScreen
from tradebot_tui.ui.widgets.chart import Chart
from tradebot_tui.ui.widgets.row_table import RowTable
from tradebot_tui.ui.widgets.watch_table import WatchTable

STEPS = 900


def settled_app(**kwargs: object) -> tuple[TradebotApp, int]:
    settings = Settings()
    app = make_app(settings, steps=STEPS, **kwargs)  # type: ignore[arg-type]
    return app, expected_live_ticks(settings, steps=STEPS)


async def settle(app: TradebotApp, total: int) -> EngineSnapshot:
    await until(lambda: app.snapshot is not None and app.snapshot.ticks == total, 30)
    assert app.snapshot is not None
    return app.snapshot


async def each_screen(pilot: Pilot) -> AsyncIterator[tuple[str, Screen[object]]]:
    """Switch to every screen in turn: (its key, the screen)."""
    for key in ("w", "p", "o", "l", "c", "g"):
        await pilot.press(key)
        await pilot.pause()
        yield key, pilot.app.screen


def tmp_locations(tmp_path: Path):  # type: ignore[no-untyped-def]
    return replace(LOCATIONS, config_file=tmp_path / "config.toml", themes_dir=tmp_path / "themes")


# -- watchlist ---------------------------------------------------------------------------------


async def test_watchlist_sorts_filters_and_moves_the_cursor() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, total)
        await pilot.pause()
        table = app.screen.query_one(WatchTable)
        assert table.shown == sorted(r.symbol for r in snap.watch)
        await pilot.press("4")  # drop, biggest first
        await pilot.pause()
        drops = {r.symbol: r.drop_pct for r in snap.watch}
        shown = [drops[s] for s in table.shown if drops[s] is not None]
        assert shown == sorted(shown, reverse=True)
        await pilot.press("4")  # again: reversed
        await pilot.pause()
        shown = [drops[s] for s in table.shown if drops[s] is not None]
        assert shown == sorted(shown)
        await pilot.press("s")  # the next column: to trigger
        await pilot.pause()
        assert table.sort_column == "to_trigger"
        await pilot.press("slash", "b", "t", "c")
        await pilot.pause()
        assert table.shown == ["BTC/USDT"]
        # The summary says so at once, although the run is over (no new snapshot).
        summary = str(app.screen.query_one("#watch-summary").render())
        assert "filter 'btc': 1 shown" in summary
        await pilot.press("escape")
        await pilot.pause()
        assert len(table.shown) == len(snap.watch)
        await pilot.press("1", "home", "down", "down")
        assert table.selected == table.shown[2]
        await pilot.press("end")
        assert table.selected == table.shown[-1]
        await pilot.press("pageup", "home", "up")
        assert table.selected == table.shown[0]
        await pilot.press("pagedown")
        assert table.cursor > 0
        assert app.selected_symbol == table.selected


async def test_clicking_a_column_title_sorts_by_it() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        await pilot.pause()
        table = app.screen.query_one(WatchTable)
        # Row 0 of the table is its header; "Last" starts after the symbol column.
        await pilot.click(WatchTable, offset=(20, 0))
        await pilot.pause()
        assert table.sort_column == "last"


async def test_a_coin_can_be_paused_and_resumed_from_the_watchlist() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        await pilot.pause()
        table = app.screen.query_one(WatchTable)
        symbol = table.selected
        assert symbol is not None
        await pilot.press("z")
        await until(lambda: symbol in app.snapshot.paused_symbols)  # type: ignore[union-attr]
        await pilot.pause()
        row = next(r for r in app.snapshot.watch if r.symbol == symbol)  # type: ignore[union-attr]
        assert row.status in (Status.SYMBOL_PAUSED, Status.IN_POSITION, Status.COOLDOWN)
        assert "paused by you" in str(app.screen.query_one("#watch-summary").render())
        await pilot.press("z")
        await until(lambda: not app.snapshot.paused_symbols)  # type: ignore[union-attr]


@pytest.mark.parametrize("screen_key", ["w", "p"])
async def test_retry_key_asks_the_engine_to_settle_a_coin_in_error(screen_key: str) -> None:
    """`R` on the watchlist or the positions: retry the selected coin now. On the
    simulator no coin is ever in error, so the engine answers that there is nothing to
    retry (tests/engine/test_healing.py retries one for real)."""
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, total)
        assert snap.positions
        await pilot.press(screen_key)
        await pilot.pause()
        await pilot.press("R")
        await until(
            lambda: any(
                n.message == "Not in error: nothing to retry."
                for n in app.snapshot.notices  # type: ignore[union-attr]
            )
        )


async def test_enter_charts_the_selected_coin() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ChartsScreen)
        symbol = app.selected_symbol
        await until(lambda: app.snapshot.focus is not None and app.snapshot.focus.symbol == symbol)  # type: ignore[union-attr]
        await pilot.pause()
        chart = app.screen.query_one("#price-chart", Chart)
        assert chart.data.points and symbol in chart.data.title
        assert {lv.label for lv in chart.data.levels} == {"anchor", "buy below"}
        await pilot.press("right_square_bracket")
        await until(lambda: app.snapshot.focus is not None and app.snapshot.focus.symbol != symbol)  # type: ignore[union-attr]
        await pilot.press("left_square_bracket")
        await until(lambda: app.snapshot.focus is not None and app.snapshot.focus.symbol == symbol)  # type: ignore[union-attr]
        equity = app.screen.query_one("#equity-chart", Chart)
        assert equity.data.points and equity.data.levels[0].value == 1000.0
        await pilot.press("w")  # leaving the charts stops the engine's chart data
        await until(lambda: app.snapshot.focus is None)  # type: ignore[union-attr]


# -- positions and orders ------------------------------------------------------------------------


async def test_exit_one_position_after_confirming() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, total)
        assert snap.positions
        symbol = snap.positions[0].symbol
        await pilot.press("p")
        await pilot.pause()
        # Realized as the history says it; the open position's entry fee named apart.
        closed, _, on_open = snap.realized_parts()
        assert on_open < 0 and closed + on_open == snap.net_pnl
        summary = str(app.screen.query_one("#positions-summary").render())
        assert f"on open positions so far {fmt_money(on_open, sign=True)}" in summary
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")  # refused: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, PositionsScreen)
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("y")
        await until(lambda: all(p.symbol != symbol for p in app.snapshot.positions))  # type: ignore[union-attr]
        await pilot.pause()
        titles = [n.title for n in app._notifications]
        assert "Exit sent" in titles
        assert f"Sold {symbol}: manual" in titles
        snap = app.snapshot
        assert snap is not None and snap.history is not None
        assert snap.recent_trades[0].exit_reason is ExitReason.MANUAL
        # The closed trades' result is the history's, to the cent; the entry fees of what
        # is still open are named apart, and the two make the ledger's figure.
        closed, fees, on_open = snap.realized_parts()
        assert (closed, fees) == (snap.history.total.pnl, snap.history.total.fees)
        assert closed + on_open == snap.net_pnl
        summary = str(app.screen.query_one("#positions-summary").render())
        assert f"{fmt_money(closed, sign=True)} after {fmt_money(fees)} fees" in summary
        assert ("on open positions so far" in summary) == bool(snap.positions)


async def test_with_exits_on_the_exchange_the_exit_dialog_says_the_list_goes_first() -> None:
    settings = Settings()
    settings = replace(settings, exits=replace(settings.exits, on_exchange=True))
    app = make_app(settings, steps=STEPS)
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, expected_live_ticks(settings, steps=STEPS))
        assert snap.positions and snap.positions[0].protection.startswith("OCO")
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert dialog.lines[1] == "Its order list (take-profit and stop) is canceled first."
        await pilot.press("n")


async def test_quitting_with_open_positions_says_what_stays_open() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, total)
        held = [(p.symbol, p.qty) for p in snap.positions]
        assert held
        await pilot.press("q")
        await until(lambda: app.return_code is not None)
    # Printed by the command once the screen is restored (and logged as a warning).
    assert app.return_code == 0
    assert app.left_open == wording.left_open(sorted(held), live=False)


async def test_exit_all_positions_after_confirming() -> None:
    settings = Settings()
    settings = replace(settings, risk=replace(settings.risk, max_positions=20))
    app = make_app(settings, steps=STEPS)
    total = expected_live_ticks(settings, steps=STEPS)
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, total)
        assert len(snap.positions) >= 1
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("E")
        await pilot.pause()
        dialog = app.screen
        n = len(snap.positions)
        assert isinstance(dialog, ConfirmDialog)
        assert dialog.title_text == (
            "Exit the open position?" if n == 1 else f"Exit all {n} positions?"
        )
        await pilot.click("#confirm-yes")
        await until(lambda: not app.snapshot.positions)  # type: ignore[union-attr]
        await pilot.press("E")  # nothing left: a warning, no dialog
        await pilot.pause()
        assert isinstance(app.screen, PositionsScreen)
        assert any("No open position" in n.message for n in app._notifications)


async def test_cancel_key_on_orders_explains_a_filled_order() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, total)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OrdersScreen)
        await pilot.press("x")
        await pilot.pause()
        # Paper orders fill at once: nothing is open, so nothing is sent.
        assert isinstance(app.screen, OrdersScreen)
        assert any("nothing to cancel" in n.message for n in app._notifications)
        table = app.screen.query_one("#orders-table", RowTable)
        assert table.row_count == len(snap.orders)


# -- logs --------------------------------------------------------------------------------------


async def test_logs_filter_by_level_and_search() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        await pilot.press("l")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        view = screen.query_one(RichLog)

        def text() -> str:
            return "\n".join(str(line.text) for line in view.lines)

        assert "BUY" in text()
        await pilot.press("v")  # WARNING and up: the simulated run has none
        await pilot.pause()
        assert screen.level == "WARNING" and "BUY" not in text()
        await pilot.press("v", "v")  # ERROR, then back to INFO
        await pilot.pause()
        assert screen.level == "INFO"
        await pilot.press("slash", *"closed")
        await pilot.pause()
        lines = text().splitlines()
        assert lines and all("closed" in line for line in lines)
        await pilot.press("enter", "G", "escape")
        await pilot.pause()
        assert screen.needle == "" and "BUY" in text()


# -- config ------------------------------------------------------------------------------------


async def test_config_validates_as_you_type_diffs_saves_and_applies(tmp_path: Path) -> None:
    settings = Settings()
    app = make_app(settings, steps=STEPS, locations=tmp_locations(tmp_path))
    total = expected_live_ticks(settings, steps=STEPS)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfigScreen)
        await until(lambda: screen.form_ready)
        source = screen.query_one("#config-source")
        assert "no file at" in str(source.render())
        box = screen.query_one("#edit-strategy--trigger_pct", Input)
        box.focus()
        box.value = "abc"
        await pilot.pause()
        assert "strategy.trigger_pct" in screen.errors
        assert screen.query_one("#field-strategy--trigger_pct").has_class("-invalid")
        await pilot.press("ctrl+s")  # refused while a field is wrong
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        assert not (tmp_path / "config.toml").exists()
        box.value = "95"
        await pilot.pause()
        assert "must be" in screen.errors["strategy.trigger_pct"]
        box.value = "3.5"
        await pilot.pause()
        assert not screen.errors
        # A setting that waits for the next start, through a choice list.
        screen.show_section("market")
        await pilot.pause()
        screen.query_one("#edit-market--allow_leveraged", Select).value = "true"
        await pilot.pause()
        await pilot.press("escape", "ctrl+s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        lines = [str(line) for line in dialog.lines]
        assert "strategy.trigger_pct: 2.0 → 3.5" in lines
        assert "market.allow_leveraged: false → true  (next start)" in lines
        await pilot.press("y")
        await until(lambda: app.snapshot.trigger_pct == 3.5)  # type: ignore[union-attr]
        saved = tomllib.loads((tmp_path / "config.toml").read_text())
        assert saved["strategy"]["trigger_pct"] == 3.5
        assert saved["market"]["allow_leveraged"] is True
        assert app.settings.strategy.trigger_pct == 3.5
        assert any(n.title == "Settings applied" for n in app._notifications)
        # The header names the file now written, no longer "no file".
        header = str(source.render())
        assert "no file" not in header and f"config: {tmp_path / 'config.toml'} is valid" in header
        # Revert puts back the saved values (now the new ones).
        box.value = "7"
        await pilot.pause()
        await pilot.press("escape", "ctrl+r")
        await pilot.pause()
        assert box.value == "3.5"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)  # nothing changed


async def test_config_rule_across_fields_is_shown_before_saving(tmp_path: Path) -> None:
    app = make_app(steps=STEPS, locations=tmp_locations(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None)
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfigScreen)
        await until(lambda: screen.form_ready)
        screen.show_section("budget")
        await pilot.pause()
        screen.query_one("#edit-budget--stake", Input).value = "5000"
        await pilot.pause()
        status = str(screen.query_one("#config-status").render())
        assert "budget.stake" in status and "larger than budget.initial" in status
        await pilot.press("escape", "ctrl+s")
        await pilot.pause()
        assert not (tmp_path / "config.toml").exists()


# -- header, help, palette, themes ---------------------------------------------------------------


async def test_header_shows_mode_state_equity_free_pnl_today_and_feed() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        await pilot.pause()
        text = status_text(app)
        for part in ("PAPER", "RUNNING", "Equity", "Free", "Today", "Feed simulated"):
            assert part in text


async def test_help_lists_every_binding_of_the_screen_and_the_app() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        async for key, screen in each_screen(pilot):
            await pilot.press("f1" if key == "c" else "question_mark")
            await pilot.pause()
            help_screen = app.screen
            assert isinstance(help_screen, HelpScreen)
            described = {what for _, rows in help_screen.sections for _, what in rows}
            for binding in [*_bindings(screen), *_bindings(app)]:
                # R (settle now) is out of the footer, not out of the help.
                listed = binding.show or binding.tooltip
                if listed and not binding.action.startswith("replay"):
                    assert (binding.tooltip or binding.description) in described, binding
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen


async def test_the_command_palette_offers_every_action() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        async for key, screen in each_screen(pilot):
            titles = {c.title for c in app.get_system_commands(screen)}
            for binding in [*_bindings(screen), *_bindings(app)]:
                if binding.description and not binding.action.startswith("replay"):
                    assert binding.description in titles, (key, binding)
        # And a command from it runs: pause entries by name.
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Pause/Resume")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(lambda: app.snapshot.state.value == "paused")  # type: ignore[union-attr]


async def test_theme_picker_previews_saves_and_escape_goes_back(tmp_path: Path) -> None:
    app = make_app(steps=STEPS, locations=tmp_locations(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ThemePicker)
        await pilot.press("down")  # amber -> daylight... a preview only
        await pilot.pause()
        assert app.theme != "midnight"
        await pilot.press("escape")
        await pilot.pause()
        assert app.theme == "midnight" and not (tmp_path / "config.toml").exists()
        await pilot.press("t")
        await pilot.pause()
        names = [n for n, _ in app.screen.names]  # type: ignore[attr-defined]
        while app.theme != "daylight":
            await pilot.press("down" if names.index("daylight") > names.index(app.theme) else "up")
            await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "daylight"
        saved = tomllib.loads((tmp_path / "config.toml").read_text())
        assert saved["ui"]["theme"] == "daylight"


async def test_user_themes_load_and_bad_ones_are_reported_together(tmp_path: Path) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#ff00ff"\ndark = true\n')
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not a colour"\n')
    (themes / "junk.toml").write_text("this is not toml")
    app = make_app(steps=STEPS, locations=tmp_locations(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme_origins["mine"].startswith("yours")
        assert app.theme_origins["midnight"] == "shipped"
        problems = [n for n in app._notifications if n.title == "Theme problems"]
        assert len(problems) == 1
        assert "broken.toml" in problems[0].message and "junk.toml" in problems[0].message


# -- notifications -------------------------------------------------------------------------------


async def test_fills_and_exits_become_notifications_without_a_flood() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, total)
        await pilot.pause()
        titles = [n.title for n in app._notifications]
        assert any(t.startswith("Bought ") for t in titles)
        assert len(snap.notices) > 4
        assert len(app._notifications) <= 5  # four toasts, then one "Busy" summary


@pytest.mark.parametrize("key", ["g"])
async def test_charts_key_switches_to_the_charts(key: str) -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        await pilot.press(key)
        await pilot.pause()
        assert app.current_mode == "charts" and isinstance(app.screen, ChartsScreen)
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, WatchlistScreen)


async def test_replay_bindings_are_hidden_outside_replays() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        assert app.check_action("replay", ("pause",)) is False
        await pilot.press("r", "n", "plus", "minus")
        await pilot.pause()
        assert app.snapshot is not None and app.snapshot.replay is None
        await asyncio.sleep(0)


async def test_replay_keys_pause_step_and_change_speed(tmp_path: Path) -> None:
    app = make_replay_app(saw_tooth_file(tmp_path), speed=60, paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None and app.snapshot.replay is not None)
        assert app.check_action("replay", ("pause",)) is True
        assert "REPLAY" in status_text(app) and "x60" in status_text(app)
        await pilot.press("n")  # a minute forward, still paused
        await until(lambda: app.snapshot.ticks > 0)  # type: ignore[union-attr]
        assert app.snapshot.replay.paused  # type: ignore[union-attr]
        await pilot.press("plus")
        await until(lambda: app.snapshot.replay.speed == 120)  # type: ignore[union-attr]
        await pilot.press("minus", "minus")
        await until(lambda: app.snapshot.replay.speed == 30)  # type: ignore[union-attr]
        for _ in range(20):
            await pilot.press("equals_sign")
        await pilot.press("r")
        await until(lambda: app.snapshot.replay.done, 30)  # type: ignore[union-attr]
        await pilot.pause()
        assert "replay done" in status_text(app)


async def test_the_key_bar_shows_the_screen_keys_and_hides_the_replay_ones() -> None:
    from tradebot_tui.ui.widgets.key_bar import KeyBar

    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        await pilot.press("p")
        await pilot.pause()
        text = str(app.screen.query_one(KeyBar).render())
        assert "Exit all" in text and "Positions" in text and "palette" in text
        assert "Play/Pause" not in text and "Faster" not in text


async def test_every_sort_key_sorts_by_its_column() -> None:
    from tradebot_tui.ui.widgets.watch_table import COLUMNS

    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, total)
        await pilot.pause()
        table = app.screen.query_one(WatchTable)
        rows = {r.symbol: r for r in snap.watch}
        for i, column in enumerate(COLUMNS, start=1):
            await pilot.press(str(i))
            await pilot.pause()
            assert table.sort_column == column.key
            keys = [column.sort_key(rows[s]) for s in table.shown]
            assert keys == sorted(keys, reverse=table.sort_reverse), column.key


async def test_enter_on_a_position_charts_it_and_escape_refuses_a_dialog() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        snap = await settle(app, total)
        symbol = snap.positions[0].symbol
        await pilot.press("p", "e")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PositionsScreen) and app.snapshot.positions  # type: ignore[union-attr]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChartsScreen) and app.selected_symbol == symbol
        await until(lambda: app.snapshot.focus is not None and app.snapshot.focus.symbol == symbol)  # type: ignore[union-attr]
        await pilot.pause(0.6)
        chart = app.screen.query_one("#price-chart", Chart)
        assert any(m.char == "▲" for m in chart.data.markers)  # the open position's entry


async def test_five_hundred_symbols_scroll_sort_and_filter() -> None:
    settings = Settings()
    settings = replace(settings, market=replace(settings.market, sim_pairs=500))
    from tests.helpers import START_MS
    from tradebot_tui.engine.engine import Engine
    from tradebot_tui.exchange.paper import PaperBroker
    from tradebot_tui.exchange.simulator import SimulatedMarket, synthetic_pairs

    market = SimulatedMarket(
        pairs=synthetic_pairs(500), start_ms=START_MS, realtime=False, max_steps=30
    )
    factory = partial(Engine, settings, market, PaperBroker(D("0.001")), clock=lambda: START_MS)
    app = TradebotApp(settings, LOCATIONS, factory)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None and app.snapshot.ticks > 0, 30)
        await pilot.pause()
        table = app.screen.query_one(WatchTable)
        assert len(table.shown) == 500
        await pilot.press("end")
        assert table.selected == "XRP/USDT" and table.scroll_offset.y > 400
        await pilot.press("slash", *"sim04", "enter")
        await pilot.pause()
        assert table.shown == [f"SIM04{i}/USDT" for i in range(10)]


def test_no_setting_can_hold_a_secret() -> None:
    from tradebot_tui.config import validate

    for info in validate.fields():
        assert not any(word in info.name for word in ("key", "secret", "password", "token"))


async def test_the_sorted_column_shows_its_whole_title_and_its_arrow() -> None:
    app, total = settled_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, total)
        await pilot.press("5")  # "To trigger": the longest title of a narrow column
        await pilot.pause()
        header = app.screen.query_one(WatchTable).render_line(0).text
        assert "To trigger ▲" in header or "To trigger ▼" in header


async def test_config_sections_show_their_toml_table_names(tmp_path: Path) -> None:
    app = make_app(steps=STEPS, locations=tmp_locations(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None)
        await pilot.press("c")
        await until(lambda: app.screen.form_ready)  # type: ignore[attr-defined]
        for _ in range(9):  # every section once: each is built when first shown
            await pilot.press("right_square_bracket")
            await pilot.pause()
        titles = [str(w.render()) for w in app.screen.query(".config-section")]
        assert [t.split()[0] for t in titles] == [
            "[strategy]",
            "[risk]",
            "[exits]",
            "[budget]",
            "[market]",
            "[exchange]",
            "[notify]",
            "[telegram]",
            "[monitor]",
            "[ui]",
        ]


async def test_config_shows_one_section_at_a_time_and_marks_wrong_ones(tmp_path: Path) -> None:
    app = make_app(steps=STEPS, locations=tmp_locations(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None)
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, ConfigScreen)
        await until(lambda: screen.form_ready)

        def shown() -> list[str]:
            return [p.id or "" for p in screen.query(".config-page") if p.display]

        assert shown() == ["page-strategy"]
        assert not screen.query("#field-risk--max_positions")  # built when first shown
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert shown() == ["page-risk"]
        assert screen.query_one("#field-risk--max_positions").region  # now on screen
        await pilot.press("left_square_bracket", "left_square_bracket")
        await pilot.pause()
        assert shown() == ["page-ui"]  # wraps around
        # A wrong field marks its section's tab, and stays marked once hidden.
        screen.show_section("budget")
        await pilot.pause()
        screen.query_one("#edit-budget--stake", Input).value = "-3"
        await pilot.pause()
        await pilot.press("escape", "right_square_bracket")
        await pilot.pause()
        assert shown() == ["page-market"]
        tab = screen.query_one("#tab-budget", Tab)
        assert "!" in str(tab.label) and "!" not in str(screen.query_one("#tab-ui", Tab).label)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not (tmp_path / "config.toml").exists()  # refused while a field is wrong
        screen.query_one("#edit-budget--stake", Input).value = "50"
        await pilot.pause()
        assert "!" not in str(tab.label)
        # Fields never shown keep their saved values in what would be saved.
        assert screen.form_settings().telegram == app.settings.telegram


async def test_history_before_any_trade_says_where_trades_will_show() -> None:
    app = make_app(steps=30)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None)
        await pilot.press("h")
        await pilot.pause()
        await until(lambda: app.screen.query("#history-empty").first().display)
        empty = str(app.screen.query_one("#history-empty").render())
        assert "Closed trades appear here" in empty and "tradebot-tui trades exports" in empty
        assert not app.screen.query_one("#history-trades").display


async def test_the_first_frame_shows_the_opening_prices_and_the_engine_comes_after_it() -> None:
    """The app draws the prices the simulated market opens at before it builds the engine
    (trio and the engine are the larger part of a start); the engine's first snapshot
    then takes their place."""
    from tests.helpers import sim_engine
    from tradebot_tui.core.display import fmt_price
    from tradebot_tui.exchange.paper import PaperBroker
    from tradebot_tui.exchange.simulator import SimulatedMarket
    from tradebot_tui.wiring.bot import Bot

    settings = Settings()
    market = SimulatedMarket(seed=settings.market.seed)
    market.resume_from({"BTC/USDT": 81_234.5, "ETH/USDT": 2_345.67})
    bot = Bot(settings, LOCATIONS, market, PaperBroker(D("0.001")), live=False, new_journal=False)
    preview = bot.preview()
    assert len(preview) == len(market.pairs) and all(r.last is not None for r in preview)
    assert {r.symbol: r.last for r in preview}.items() >= {"BTC/USDT": 81_234.5}.items()
    seen: dict[str, str] = {}

    def factory(**kwargs: object) -> object:
        screen = app.screen
        assert isinstance(screen, WatchlistScreen)
        table = screen.query_one(WatchTable)
        seen["rows"] = "\n".join(table.render_line(y).text for y in range(1, 8))
        seen["summary"] = str(screen.query_one("#watch-summary").render())
        return sim_engine(settings, steps=30, **kwargs)

    app = TradebotApp(settings, LOCATIONS, factory, preview=preview)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None and app.snapshot.ticks > 0, 30)
        await pilot.pause()
        assert "BTC/USDT" in seen["rows"] and fmt_price(81_234.5, 2) in seen["rows"]
        assert "warming up" in seen["rows"]
        assert "Starting the engine" in seen["summary"]
        summary = str(app.screen.query_one("#watch-summary").render())
        assert "Starting the engine" not in summary and "ticks from the" in summary


async def test_an_app_left_before_its_engine_came_starts_none() -> None:
    """The engine starts after the first frame; a way out before then (here the test's
    own) must not start one afterwards, which nobody would end."""
    import asyncio

    from tradebot_tui.ui.app import FIRST_FRAME_OUT_S

    app, _ = settled_app()
    async with app.run_test(size=SIZE):
        pass
    await asyncio.sleep(FIRST_FRAME_OUT_S + 0.2)
    assert app._run is None
