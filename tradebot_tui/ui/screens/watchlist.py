"""The watchlist: every watched symbol, its anchor, its drop and why it is (not) buying."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from tradebot_tui.assets import stylesheet
from tradebot_tui.core.status import Status
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.widgets.text_line import TextLine
from tradebot_tui.ui.widgets.watch_table import COLUMNS, WatchTable

if TYPE_CHECKING:
    from textual.widgets import Input

    from tradebot_tui.engine import EngineSnapshot
    from tradebot_tui.ui.widgets.search_box import SearchBox


class WatchlistScreen(TradebotScreen):
    """Symbols, prices, anchors and the distance to the drop trigger."""

    CSS_PATH = stylesheet("watchlist")
    # Shown by the help screen with the bindings.
    HELP_EXTRA = (
        "The table",
        [
            ("↑ ↓ k j", "move the cursor"),
            ("PgUp PgDn", "a page up or down"),
            ("Home End", "first or last row"),
            ("1 … 8", "sort by that column (again: reverse)"),
            ("click a title", "sort by that column"),
        ],
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", tooltip="Show only symbols matching a text"),
        Binding("s", "next_sort", "Sort", tooltip="Sort by the next column (again: reverse)"),
        Binding("z", "toggle_symbol", "Pause coin", tooltip="Pause or resume entries on one coin"),
        Binding(
            "R",
            "retry",
            "Retry",
            tooltip="Settle the order in doubt of a coin in error now",
            show=False,
        ),
        Binding("enter", "chart", "Chart", tooltip="Price chart of the selected coin"),
        *(
            Binding(str(i), f"sort('{c.key}')", f"Sort by {c.label}", show=False)
            for i, c in enumerate(COLUMNS, start=1)
        ),
    ]

    def compose_body(self) -> ComposeResult:
        yield TextLine(id="watch-summary")
        # The filter box comes with the first `/` (`_search_box`): Textual's Input, its
        # stylesheet and its mount were 8 ms of a start, for a box hidden until then.
        yield WatchTable(id="watch-table")

    def on_mount(self) -> None:
        table = self.query_one(WatchTable)
        table.focus()
        app = self.tb_app
        if app.snapshot is None and app.preview:  # the engine is starting: its prices
            table.update_rows(app.preview, app.settings.strategy.trigger_pct)
            self.query_one("#watch-summary", TextLine).set_text(
                f"[$secondary]Starting the engine · {len(app.preview)} symbols at the "
                "prices the simulated market opens at[/]"
            )

    def show_body(self, snap: EngineSnapshot) -> None:
        self.query_one(WatchTable).update_rows(snap.watch, snap.trigger_pct)
        self._summary(snap)

    def _summary(self, snap: EngineSnapshot) -> None:
        if not snap.watch and snap.feed and not snap.feed.startswith("live"):
            self.query_one("#watch-summary", TextLine).set_text(
                f"[b $warning]{snap.feed}[/] · the watchlist fills once the "
                f"{snap.source} market answers"
            )
            return
        table = self.query_one(WatchTable)
        watching = sum(1 for r in snap.watch if r.status is Status.WATCHING)
        shown = len(table.shown)
        filtered = f" · filter {table.filter_text!r}: {shown} shown" if table.filter_text else ""
        paused = f" · {len(snap.paused_symbols)} paused by you" if snap.paused_symbols else ""
        outside = sum(1 for r in snap.watch if r.outside)
        if outside:
            paused += f" · {outside} held outside the universe (still watched)"
        # What the trader just asked for (the filter) first: the end of a long line is cut.
        self.query_one("#watch-summary", TextLine).set_text(
            f"Buying when a coin trades [b]{snap.trigger_pct:.2f}%[/] below its anchor · "
            f"{len(snap.watch)} symbols, {watching} watching{paused}{filtered} · "
            f"{snap.ticks:,} ticks from the {snap.source} market"
        )

    # -- actions ---------------------------------------------------------------------------

    async def action_filter(self) -> None:
        box = self._search_box()
        if box is None:
            from tradebot_tui.ui.widgets.search_box import SearchBox

            box = SearchBox(
                "filter: part of a symbol or a status; Esc clears",
                "#watch-table",
                id="watch-filter",
            )
            await self.mount(box, before=self.query_one(WatchTable))
        box.open()

    def _search_box(self) -> SearchBox | None:
        """The filter box, once the first `/` has made it."""
        from tradebot_tui.ui.widgets.search_box import SearchBox

        found = self.query(SearchBox)
        return found.first() if found else None

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "watch-filter":
            return
        self.query_one(WatchTable).filter_text = event.value
        if self.tb_app.snapshot is not None:  # the count shown, without waiting for prices
            self._summary(self.tb_app.snapshot)

    def key_escape(self) -> None:
        box = self._search_box()
        if box is not None:
            box.close()

    def action_sort(self, key: str) -> None:
        self.query_one(WatchTable).sort_by(key)

    def action_next_sort(self) -> None:
        table = self.query_one(WatchTable)
        keys = [c.key for c in COLUMNS]
        table.sort_by(keys[(keys.index(table.sort_column) + 1) % len(keys)])

    def action_toggle_symbol(self) -> None:
        symbol = self.query_one(WatchTable).selected
        if symbol is None:
            self.notify("No symbol selected.", severity="warning")
            return
        from tradebot_tui.engine import ToggleSymbol

        self.tb_app.send_command(ToggleSymbol(symbol))

    def action_retry(self) -> None:
        symbol = self.query_one(WatchTable).selected
        if symbol is None:
            self.notify("No symbol selected.", severity="warning")
            return
        from tradebot_tui.engine import RetryNow

        self.tb_app.send_command(RetryNow(symbol))

    def action_chart(self) -> None:
        symbol = self.query_one(WatchTable).selected
        if symbol is not None:
            self.tb_app.chart(symbol)

    @on(WatchTable.CursorMoved)
    def _cursor_moved(self, event: WatchTable.CursorMoved) -> None:
        if event.symbol is not None:
            self.tb_app.select_symbol(event.symbol)
