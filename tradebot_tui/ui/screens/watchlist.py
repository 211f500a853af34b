"""The watchlist: every watched symbol, its anchor, its drop and why it is (not) buying."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from tradebot_tui.assets import stylesheet
from tradebot_tui.core.display import fmt_duration, fmt_price
from tradebot_tui.core.trader import Status
from tradebot_tui.engine.snapshot import EngineSnapshot, WatchRow
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.widgets.tables import Cell, right, sync_rows

COLUMNS = ("symbol", "last", "anchor", "drop", "to_trigger", "status")
LABELS = ("Symbol", "Last", "Anchor", "Drop", "To trigger", "Status")

_STATUS_COLOR = {
    Status.IN_POSITION: "success",
    Status.BUYING: "accent",
    Status.SELLING: "accent",
    Status.PAUSED: "warning",
    Status.MAX_POSITIONS: "warning",
    Status.BUDGET: "warning",
    Status.BELOW_MINIMUM: "warning",
    Status.ERROR: "error",
    Status.WARMING_UP: "secondary",
    Status.COOLDOWN: "secondary",
    Status.NO_DATA: "secondary",
}


class WatchlistScreen(TradebotScreen):
    """Symbols, prices, anchors and the distance to the drop trigger."""

    CSS_PATH = stylesheet("watchlist")

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, tuple[Cell, ...]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(id="watch-summary")
        table: DataTable[Cell] = DataTable(id="watch-table", cursor_type="row", zebra_stripes=True)
        for key, label in zip(COLUMNS, LABELS, strict=True):
            table.add_column(label, key=key)
        yield table

    def show_body(self, snap: EngineSnapshot) -> None:
        theme = self.app.current_theme
        colors = {
            "success": theme.success,
            "accent": theme.accent,
            "warning": theme.warning,
            "error": theme.error,
            "secondary": theme.secondary,
        }
        rows = [(row.symbol, self._cells(row, snap.trigger_pct, colors)) for row in snap.watch]
        sync_rows(self.query_one("#watch-table", DataTable), COLUMNS, rows, self._shown)
        watching = sum(1 for r in snap.watch if r.status is Status.WATCHING)
        self.query_one("#watch-summary", Static).update(
            f"Buying when a coin trades [b]{snap.trigger_pct:.2f}%[/] below its anchor · "
            f"{len(snap.watch)} symbols, {watching} watching · "
            f"{snap.ticks:,} ticks from the {snap.source} market"
        )

    @staticmethod
    def _cells(row: WatchRow, trigger: float, colors: dict[str, str | None]) -> tuple[Cell, ...]:
        drop_cell: Cell
        if row.drop_pct is None:
            drop_cell = right("—")
            trigger_cell: Cell = right("—")
        else:
            ratio = row.drop_pct / trigger if trigger else 0.0
            style = ""
            if ratio >= 1:
                style = f"bold {colors['error']}"
            elif ratio >= 0.75:
                style = f"{colors['warning']}"
            elif ratio >= 0.5:
                style = f"{colors['accent']}"
            drop_cell = right(f"{row.drop_pct:.2f}%", style)
            to_go = row.to_trigger_pct or 0.0
            trigger_cell = right("reached" if to_go <= 0 else f"{to_go:.2f}%", style)
        status_text = row.status.value
        if row.status_ms and row.status in (Status.WARMING_UP, Status.COOLDOWN):
            status_text += f" {fmt_duration(row.status_ms)}"
        color = colors.get(_STATUS_COLOR.get(row.status, "")) or ""
        return (
            Text(row.symbol, style="bold"),
            right(fmt_price(row.last, row.decimals)),
            right(fmt_price(row.anchor, row.decimals)),
            drop_cell,
            trigger_cell,
            Text(status_text, style=color),
        )
