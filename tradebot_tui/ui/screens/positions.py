"""Open positions with their result so far and where each exit rule would fire."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from tradebot_tui.assets import stylesheet
from tradebot_tui.core.display import fmt_duration, fmt_money, fmt_price, fmt_qty
from tradebot_tui.engine.snapshot import EngineSnapshot, PositionRow
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.widgets.tables import Cell, right, sync_rows

COLUMNS = ("symbol", "qty", "entry", "last", "pnl_pct", "pnl", "held", "stop", "take", "trail")
LABELS = ("Symbol", "Amount", "Entry", "Last", "PnL %", "PnL", "Held", "Stop", "Take", "Trail")


class PositionsScreen(TradebotScreen):
    """What the bot holds now."""

    CSS_PATH = stylesheet("positions")

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, tuple[Cell, ...]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(id="positions-summary")
        table: DataTable[Cell] = DataTable(
            id="positions-table", cursor_type="row", zebra_stripes=True
        )
        for key, label in zip(COLUMNS, LABELS, strict=True):
            table.add_column(label, key=key)
        yield table
        yield Static(id="positions-empty")

    def show_body(self, snap: EngineSnapshot) -> None:
        theme = self.app.current_theme
        up, down = theme.success or "green", theme.error or "red"
        rows = [(p.symbol, self._cells(p, up, down)) for p in snap.positions]
        sync_rows(self.query_one("#positions-table", DataTable), COLUMNS, rows, self._shown)
        unrealized = sum((p.pnl for p in snap.positions), start=Decimal(0))
        win_rate = f"{snap.wins / snap.trades:.0%}" if snap.trades else "—"
        self.query_one("#positions-summary", Static).update(
            f"Open [b]{snap.open_positions}/{snap.max_positions}[/] · "
            f"invested {fmt_money(snap.in_positions)} {snap.quote} · "
            f"unrealized {fmt_money(unrealized, sign=True)} · "
            f"realized {fmt_money(snap.net_pnl, sign=True)} after "
            f"{fmt_money(snap.fees_paid)} fees · closed trades {snap.trades} (won {win_rate})"
        )
        empty = self.query_one("#positions-empty", Static)
        empty.display = not snap.positions
        if not snap.positions:
            empty.update(
                f"No open position. The bot buys when a coin trades {snap.trigger_pct:.2f}% "
                "below its anchor; the watchlist (w) shows how close each one is."
            )

    @staticmethod
    def _cells(p: PositionRow, up: str, down: str) -> tuple[Cell, ...]:
        color = up if p.pnl > 0 else down if p.pnl < 0 else ""
        d = p.decimals
        return (
            Text(p.symbol, style="bold"),
            right(fmt_qty(p.qty)),
            right(fmt_price(p.entry_price, d)),
            right(fmt_price(p.last, d)),
            right(f"{p.pnl_pct:+.2f}%", color),
            right(fmt_money(p.pnl, sign=True), color),
            right(fmt_duration(p.held_ms)),
            right(fmt_price(p.stop_price, d)),
            right(fmt_price(p.take_price, d)),
            right(fmt_price(p.trail_price, d) if p.trail_price else "not armed"),
        )
