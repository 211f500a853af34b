"""Orders the bot placed, newest first, with their fills and fees."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from tradebot_tui.assets import stylesheet
from tradebot_tui.core.display import fmt_money, fmt_price, fmt_qty
from tradebot_tui.engine.snapshot import EngineSnapshot, OrderRow
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.widgets.tables import Cell, right, sync_rows

COLUMNS = ("time", "symbol", "side", "qty", "price", "status", "filled", "fee", "reason", "id")
LABELS = ("Time", "Symbol", "Side", "Amount", "Price", "Status", "Avg fill", "Fee", "Why", "Id")


class OrdersScreen(TradebotScreen):
    """Recent orders."""

    CSS_PATH = stylesheet("orders")

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, tuple[Cell, ...]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(id="orders-summary")
        table: DataTable[Cell] = DataTable(id="orders-table", cursor_type="row", zebra_stripes=True)
        for key, label in zip(COLUMNS, LABELS, strict=True):
            table.add_column(label, key=key)
        yield table

    def show_body(self, snap: EngineSnapshot) -> None:
        theme = self.app.current_theme
        colors = {"buy": theme.success or "green", "sell": theme.error or "red"}
        rows = [(o.client_id, self._cells(o, colors)) for o in snap.orders]
        sync_rows(self.query_one("#orders-table", DataTable), COLUMNS, rows, self._shown)
        open_orders = sum(1 for o in snap.orders if o.status in ("pending", "open"))
        self.query_one("#orders-summary", Static).update(
            f"{len(snap.orders)} recent order(s), {open_orders} open · "
            f"fees paid {fmt_money(snap.fees_paid)} {snap.quote}"
            if snap.orders
            else "No order yet: the first one goes out when a coin reaches the drop trigger."
        )

    @staticmethod
    def _cells(o: OrderRow, colors: dict[str, str]) -> tuple[Cell, ...]:
        return (
            time.strftime("%H:%M:%S", time.gmtime(o.ts_ms / 1000)),
            Text(o.symbol, style="bold"),
            Text(o.side.upper(), style=colors.get(o.side, "")),
            right(fmt_qty(o.qty)),
            right(fmt_price(o.price, o.decimals)),
            o.status.replace("_", " "),
            right(fmt_price(o.avg_price, o.decimals)),
            right(fmt_money(o.fee, 4)),
            o.reason.replace("_", " "),
            Text(o.client_id, style="dim"),
        )
