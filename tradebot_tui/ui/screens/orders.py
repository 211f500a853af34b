"""Orders the bot placed, newest first, with their fills and fees."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tradebot_tui.assets import stylesheet
from tradebot_tui.core.display import fmt_money, fmt_price, fmt_qty
from tradebot_tui.engine.commands import CancelOrder
from tradebot_tui.engine.snapshot import EngineSnapshot, OrderRow
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.screens.dialogs import ConfirmDialog
from tradebot_tui.ui.widgets.tables import Cell, cursor_key, outside_mark, right, sync_rows
from tradebot_tui.ui.widgets.text_line import TextLine

COLUMNS = (
    "time",
    "symbol",
    "side",
    "qty",
    "price",
    "status",
    "filled",
    "avg",
    "fee",
    "reason",
    "id",
)
LABELS = (
    "Time",
    "Symbol",
    "Side",
    "Amount",
    "Price",
    "Status",
    "Filled",
    "Avg fill",
    "Fee",
    "Why",
    "Id",
)


class OrdersScreen(TradebotScreen):
    """Recent orders."""

    CSS_PATH = stylesheet("orders")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "cancel_order", "Cancel order", tooltip="Cancel the selected open order"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, tuple[Cell, ...]] = {}

    def compose_body(self) -> ComposeResult:
        yield TextLine(id="orders-summary")
        table: DataTable[Cell] = DataTable(id="orders-table", cursor_type="row", zebra_stripes=True)
        for key, label in zip(COLUMNS, LABELS, strict=True):
            table.add_column(label, key=key)
        yield table

    def show_body(self, snap: EngineSnapshot) -> None:
        theme = self.app.current_theme
        colors = {"buy": theme.success or "green", "sell": theme.error or "red"}
        rows = [(o.client_id, self._cells(o, colors)) for o in snap.orders]
        sync_rows(self.query_one("#orders-table", DataTable), COLUMNS, rows, self._shown)
        open_orders = sum(1 for o in snap.orders if not o.status.terminal)
        self.query_one("#orders-summary", TextLine).set_text(
            f"{len(snap.orders)} recent order(s), {open_orders} open · "
            f"fees paid {fmt_money(snap.fees_paid)} {snap.quote}"
            if snap.orders
            else "No order yet: the first one goes out when a coin reaches the drop trigger.",
        )

    @staticmethod
    def _cells(o: OrderRow, colors: dict[str, str]) -> tuple[Cell, ...]:
        return (
            time.strftime("%H:%M:%S", time.gmtime(o.ts_ms / 1000)),
            outside_mark(o.symbol, outside=o.outside),
            Text(o.side.upper(), style=colors.get(o.side, "")),
            right(fmt_qty(o.qty)),
            right(fmt_price(o.price, o.decimals)),
            o.status.replace("_", " "),
            right(f"{o.filled / o.qty:.0%}" if o.qty else "—"),
            right(fmt_price(o.avg_price, o.decimals)),
            right(fmt_money(o.fee, 4)),
            o.reason.replace("_", " "),
            Text(o.client_id, style="dim"),
        )

    def action_cancel_order(self) -> None:
        snap = self.tb_app.snapshot
        key = cursor_key(self.query_one("#orders-table", DataTable))
        order = next((o for o in snap.orders if o.client_id == key), None) if snap else None
        if order is None:
            self.notify("No order selected.", severity="warning")
            return
        if order.status.terminal:
            self.notify(
                f"{order.client_id} is {order.status.replace('_', ' ')}: nothing to cancel.",
                severity="warning",
            )
            return
        lines = [
            f"{order.side.upper()} {fmt_qty(order.qty)} {order.symbol} @ "
            f"{fmt_price(order.price, order.decimals)}, filled {fmt_qty(order.filled)} so far.",
            "What has filled stays filled; the rest is cancelled on the exchange.",
        ]

        def answer(yes: bool | None) -> None:
            if yes:
                self.tb_app.send_command(CancelOrder(order.client_id))

        self.app.push_screen(
            ConfirmDialog(f"Cancel {order.client_id}?", lines, yes="Cancel it"), answer
        )
