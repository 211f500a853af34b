"""The Line-API table of the positions and orders screens: rows by key, a cursor that
stays on its row, Enter and clicks, and the cells it draws."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget

from tradebot_tui.ui.widgets.row_table import Column, RowTable, cell, outside_mark

COLUMNS = (Column("symbol", "Symbol"), Column("pnl", "PnL", right=True))


def rows(*items: tuple[str, str]) -> list[tuple[str, tuple[tuple[tuple[str, str], ...], ...]]]:
    return [(key, (cell(key, "bold"), cell(pnl, "up"))) for key, pnl in items]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield RowTable(COLUMNS, id="t")

    def on_row_table_row_selected(self, event: RowTable.RowSelected) -> None:
        self.selected.append(event.key)


def text_of(table: Widget, y: int) -> str:
    return "".join(segment.text for segment in table.render_line(y))


async def test_rows_are_drawn_right_aligned_where_asked_and_the_header_on_top() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(RowTable)
        table.set_rows(rows(("BTC/USDT", "+1.50"), ("ETH/USDT", "-12.25")))
        await pilot.pause()
        assert table.row_count == 2
        assert text_of(table, 0).startswith(" Symbol       PnL ")
        assert text_of(table, 1).startswith(" BTC/USDT   +1.50 ")
        assert text_of(table, 2).startswith(" ETH/USDT  -12.25 ")
        assert text_of(table, 3).strip() == ""  # below the rows: blank
        # Every line is as wide as the widget.
        assert all(len(text_of(table, y)) == table.size.width for y in range(4))


async def test_an_empty_table_shows_its_header() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(RowTable)
        await pilot.pause()
        assert table.size.height == 1 and table.row_count == 0
        assert text_of(table, 0).startswith(" Symbol  PnL ")
        table.set_rows([])
        await pilot.pause()
        assert table.size.height == 1


async def test_the_cursor_stays_on_its_key_when_rows_come_and_go() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(RowTable)
        table.set_rows(rows(("A", "1"), ("B", "2"), ("C", "3")))
        await pilot.pause()
        await pilot.press("down", "down")
        assert table.cursor_key == "C"
        table.set_rows(rows(("C", "3"), ("D", "4")))  # A and B sold, D bought
        assert table.cursor_key == "C" and table.cursor == 0
        table.set_rows(rows(("D", "4")))  # C gone: the cursor stays in the table
        assert table.cursor_key == "D"
        table.set_rows([])
        assert table.cursor_key is None and table.row_count == 0
        await pilot.press("enter", "down")  # nothing to select or move to
        assert app.selected == []


async def test_enter_and_a_click_on_the_cursor_row_select_it() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(RowTable)
        table.set_rows(rows(("A", "1"), ("B", "2"), ("C", "3")))
        await pilot.pause()
        await pilot.press("end", "enter")
        await pilot.pause()
        assert app.selected == ["C"]
        await pilot.click(RowTable, offset=(2, 1))  # moves the cursor to A
        await pilot.pause()
        assert table.cursor_key == "A" and app.selected == ["C"]
        await pilot.click(RowTable, offset=(2, 1))  # on the cursor's row: selects it
        await pilot.pause()
        assert app.selected == ["C", "A"]


async def test_a_changed_row_is_redrawn_and_columns_widen_to_fit() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 8)) as pilot:
        table = app.query_one(RowTable)
        table.set_rows(rows(("A", "1"), ("B", "2")))
        await pilot.pause()
        before = text_of(table, 2)
        table.set_rows(rows(("A", "1"), ("B", "+1,234.56")))
        await pilot.pause()
        assert text_of(table, 2) != before
        assert text_of(table, 2).startswith(" B       +1,234.56 ")
        assert text_of(table, 1).startswith(" A               1 ")


def test_outside_mark_adds_a_muted_note() -> None:
    assert outside_mark("DOT/USDT", outside=False) == (("DOT/USDT", "bold"),)
    assert outside_mark("DOT/USDT", outside=True)[1] == (" · outside universe", "muted")


async def test_bad_rows_are_refused_with_what_is_wrong() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)):
        table = app.query_one(RowTable)
        with pytest.raises(ValueError, match="same key"):
            table.set_rows(rows(("A", "1"), ("A", "2")))
        with pytest.raises(ValueError, match="1 cells for 2 columns"):
            table.set_rows([("A", (cell("A"),))])


async def test_the_watch_table_draws_a_row_changed_while_out_of_sight() -> None:
    # Only the visible rows are compared per snapshot: a row that changed below the
    # fold is checked against its drawn strip when it scrolls into sight.
    from textual.app import App as _App

    from tradebot_tui.core.book import Status
    from tradebot_tui.engine.snapshot import WatchRow
    from tradebot_tui.ui.widgets.watch_table import WatchTable

    def watch(last: float, n: int = 30) -> list[WatchRow]:
        return [
            WatchRow(f"C{i:02}/USDT", last if i == n - 1 else 1.0, 1.0, 0.0, 2.0,
                     Status.WATCHING, 0, 4)
            for i in range(n)
        ]  # fmt: skip

    class WatchApp(_App[None]):
        def compose(self) -> ComposeResult:
            yield WatchTable()

    app = WatchApp()
    async with app.run_test(size=(140, 10)) as pilot:
        table = app.query_one(WatchTable)
        table.update_rows(watch(1.0), 2.0)
        await pilot.pause()
        await pilot.press("end")  # draws the last row, then back to the top
        await pilot.pause()
        await pilot.press("home")
        await pilot.pause()
        table.update_rows(watch(7.5), 2.0)  # the last row changes out of sight
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        last = next(
            text_of(table, y) for y in range(1, 10) if text_of(table, y).lstrip().startswith("C29")
        )
        assert "7.5000" in last
