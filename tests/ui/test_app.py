"""Pilot tests: every binding of the app, quitting, and engine failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.helpers import expected_live_ticks
from tests.ui.conftest import make_app
from tradebot_tui.config.settings import Settings
from tradebot_tui.engine.snapshot import RunState
from tradebot_tui.ui.app import TradebotApp
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.widgets.status_bar import StatusBar

SIZE = (130, 36)


async def until(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def status_text(app: TradebotApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


@pytest.mark.parametrize(
    ("key", "mode"),
    [("p", "positions"), ("o", "orders"), ("l", "logs"), ("c", "config"), ("w", "watchlist")],
)
async def test_mode_keys_switch_screens(key: str, mode: str) -> None:
    app = make_app(steps=300)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None)
        if mode == "watchlist":
            await pilot.press("p")
        await pilot.press(key)
        await pilot.pause()
        assert app.current_mode == mode
        assert isinstance(app.screen, TradebotScreen)
        assert "RUNNING" in status_text(app)


async def test_space_pauses_and_resumes_entries() -> None:
    app = make_app(steps=10**6, realtime=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None and app.snapshot.state is RunState.RUNNING)
        await pilot.press("space")
        await until(lambda: app.snapshot is not None and app.snapshot.state is RunState.PAUSED)
        await pilot.pause()
        assert "ENTRIES PAUSED" in status_text(app)
        await pilot.press("space")
        await until(lambda: app.snapshot is not None and app.snapshot.state is RunState.RUNNING)


@pytest.mark.parametrize("key", ["q", "ctrl+c", "ctrl+q"])
async def test_quit_keys_stop_the_engine_and_exit(key: str) -> None:
    app = make_app(steps=10**6, realtime=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None)
        await pilot.press(key)
        await until(lambda: app.return_code is not None)
    assert app.return_code == 0
    assert app._run is not None and app._run.finished


async def test_engine_crash_exits_non_zero_with_the_error() -> None:
    app = make_app(steps=10**6, realtime=True, crash_after_s=0.2)
    async with app.run_test(size=SIZE):
        await until(lambda: app.return_code is not None)
    assert app.return_code == 1
    assert app.engine_error is not None
    assert "InjectedCrash" in repr(app.engine_error.exceptions)  # type: ignore[attr-defined]


async def test_an_exception_in_the_ui_still_stops_the_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app(steps=10**6, realtime=True)

    def broken(self: TradebotScreen, snap: object) -> None:
        raise RuntimeError("a bug in a screen")

    with pytest.raises(RuntimeError, match="a bug in a screen"):
        async with app.run_test(size=SIZE):
            await until(lambda: app.snapshot is not None)
            monkeypatch.setattr(TradebotScreen, "show", broken)
            await until(lambda: app.return_code is not None)
    assert app.return_code == 1
    assert app._run is not None and app._run.finished


async def test_screens_show_what_the_engine_did() -> None:
    settings = Settings()
    app = make_app(settings, steps=900)
    total = expected_live_ticks(settings, steps=900)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.snapshot is not None and app.snapshot.ticks == total)
        snap = app.snapshot
        assert snap is not None and snap.orders and snap.positions
        await pilot.press("p")
        await pilot.pause()
        table = app.screen.query_one("#positions-table")
        assert table.row_count == len(snap.positions)  # type: ignore[attr-defined]
        await pilot.press("o")
        await pilot.pause()
        assert app.screen.query_one("#orders-table").row_count == len(snap.orders)  # type: ignore[attr-defined]
        await pilot.press("l")
        await pilot.pause()
        log_view = app.screen.query_one("#logs-view")
        text = "\n".join(str(line.text) for line in log_view.lines)  # type: ignore[attr-defined]
        assert "engine started" in text and "BUY" in text


async def test_live_trading_waits_for_the_typed_confirmation() -> None:
    from tradebot_tui.ui.screens.confirm_live import ConfirmLiveScreen

    app = make_app(live=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfirmLiveScreen)
        assert app.snapshot is None and app._run is None  # nothing started
        await pilot.press("l", "i", "v", "e", "enter")  # the wrong case is refused
        await pilot.pause()
        assert isinstance(app.screen, ConfirmLiveScreen) and app._run is None
        await pilot.press("L", "I", "V", "E", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmLiveScreen)
        assert app._run is not None
        assert "LIVE" in str(app.screen.query_one(StatusBar).render())


async def test_live_trading_refused_at_the_dialog_starts_nothing() -> None:
    app = make_app(live=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 2
    assert app._run is None


def test_the_header_names_the_stream_the_feed_reads() -> None:
    from types import SimpleNamespace

    from tradebot_tui.ui.widgets.status_bar import feed_text

    def header(feed: str) -> str:
        # feed_text reads only these three fields of the snapshot.
        snap = SimpleNamespace(replay=None, source="binance websocket", feed=feed)
        return feed_text(snap)  # type: ignore[arg-type]

    assert header("live · bookTicker ×20") == "Feed [$success]live · bookTicker ×20[/]"
    assert header("live · all-market miniTicker") == (
        "Feed [$success]live · all-market miniTicker[/]"
    )
    assert header("reconnecting · bookTicker ×20").startswith("Feed [$warning]reconnecting")


async def test_full_collections_run_on_the_apps_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    # Python's own full collections held the event loop 30-100 ms every few seconds
    # under load: the app takes them over, on a fixed interval.
    import gc

    from tradebot_tui.ui import upkeep

    calls: list[float] = []
    monkeypatch.setattr(upkeep, "FULL_GC_EVERY_S", 0.05)
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append(len(args)) or 0)
    before = gc.get_threshold()
    try:
        app = make_app(steps=10)
        async with app.run_test(size=SIZE):
            upkeep.schedule_full_gc(app)
            # Young collections after 10,000 objects, not 700: rows of one snapshot are
            # gone by then instead of walked and promoted (a user's larger value is kept).
            assert gc.get_threshold() == (
                max(before[0], upkeep.YOUNG_GC_AFTER),
                before[1],
                1_000_000,
            )
            assert upkeep.YOUNG_GC_AFTER == 10_000
            await until(lambda: len(calls) >= 2, timeout=5)
    finally:
        gc.set_threshold(*before)


def test_exit_levels_say_which_side_of_the_last_price_they_sit() -> None:
    from tradebot_tui.ui.screens.positions import exit_level

    assert exit_level(97.0, 100.0, 2) == "97.00 (3.0% below)"
    assert exit_level(101.5, 100.0, 2) == "101.50 (1.5% above)"
    # Within a rounding of the last price: neither side.
    assert exit_level(100.04, 100.0, 2) == "100.04 (at the last price)"
    assert exit_level(None, 100.0, 2) == "—"
    assert exit_level(99.0, 0.0, 2) == "99.00"  # no last price yet: the level alone


def test_every_sorted_column_title_is_shown_whole_with_its_arrow() -> None:
    from rich.style import Style

    from tradebot_tui.ui.widgets.watch_table import COLUMNS, WatchTable

    table = WatchTable()
    table._styles = dict.fromkeys(("base", "header", "sorted"), Style())
    for column in COLUMNS:
        for reverse, arrow in ((False, "▲"), (True, "▼")):
            table.set_reactive(WatchTable.sort_column, column.key)
            table.set_reactive(WatchTable.sort_reverse, reverse)
            header = "".join(s.text for s in table._header_strip())
            assert f"{column.label} {arrow}" in header, (column.key, header)


def test_positions_before_any_closed_trade_say_so() -> None:
    from tests.helpers import sim_engine
    from tradebot_tui.ui.screens.positions import summary_text

    text = summary_text(sim_engine(steps=10).snapshot())
    assert text == ("Open [b]0/5[/] · invested 0.00 USDT · unrealized +0.00 · no closed trade yet")


def test_a_terminal_that_reads_nothing_never_blocks_the_loop() -> None:
    # The engine shares the app's event loop: a frame the writer thread cannot take is
    # dropped (not waited for), and the whole screen is drawn again once it takes frames.
    import queue
    import threading

    from tradebot_tui.ui.driver import QuickExitDriver

    class Writer:
        def __init__(self) -> None:
            self._queue: queue.Queue[str] = queue.Queue(2)
            self.alive = True

        def is_alive(self) -> bool:
            return self.alive

    class App:
        def __init__(self) -> None:
            self.asked: list[tuple[object, dict[str, object]]] = []

        def call_later(self, callback: object, **kwargs: object) -> None:
            self.asked.append((callback, kwargs))

        def refresh(self) -> None: ...

    driver = QuickExitDriver.__new__(QuickExitDriver)
    writer, app = Writer(), App()
    driver._writer_thread = writer  # type: ignore[assignment]
    driver._app = app  # type: ignore[assignment]
    driver.terminal_gone = False
    driver._frames_dropped = False
    done = threading.Event()

    def write_four() -> None:
        for frame in ("a", "b", "c", "d"):
            driver.write(frame)
        done.set()

    threading.Thread(target=write_four, daemon=True).start()
    assert done.wait(2), "a full queue blocked the write"
    assert list(writer._queue.queue) == ["a", "b"] and not app.asked
    writer._queue.get_nowait()  # the terminal reads again
    driver.write("e")
    assert list(writer._queue.queue) == ["b", "e"]
    assert app.asked == [(app.refresh, {"repaint": True, "layout": True})]
    writer.alive = False  # the terminal went away: frames go nowhere, nothing waits
    writer._queue.get_nowait()
    driver.write("f")
    assert driver.terminal_gone and list(writer._queue.queue) == ["e"]
