"""Orders the bot placed, newest first, with their fills and fees."""

from __future__ import annotations

import time
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from tradebot_tui.assets import stylesheet
from tradebot_tui.core.display import fmt_money, fmt_price, fmt_qty
from tradebot_tui.engine import CancelOrder, EngineSnapshot, OrderRow
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.screens.dialogs import ConfirmDialog
from tradebot_tui.ui.widgets.row_table import Cell, Column, RowTable, cell, outside_mark
from tradebot_tui.ui.widgets.text_line import TextLine

COLUMNS = (
    Column("time", "Time"),
    Column("symbol", "Symbol"),
    Column("side", "Side"),
    Column("qty", "Amount", right=True),
    Column("price", "Price", right=True),
    Column("status", "Status"),
    Column("filled", "Filled", right=True),
    Column("avg", "Avg fill", right=True),
    Column("fee", "Fee", right=True),
    Column("reason", "Why"),
    Column("id", "Id"),
)


SIDE_COMPONENT = {"buy": "up", "sell": "down"}


class OrdersScreen(TradebotScreen):
    """Recent orders."""

    CSS_PATH = stylesheet("orders")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "cancel_order", "Cancel order", tooltip="Cancel the selected open order"),
    ]

    def compose_body(self) -> ComposeResult:
        yield TextLine(id="orders-summary")
        yield RowTable(COLUMNS, id="orders-table")

    def show_body(self, snap: EngineSnapshot) -> None:
        rows = [(o.client_id, self._cells(o)) for o in snap.orders]
        self.query_one("#orders-table", RowTable).set_rows(rows)
        open_orders = sum(1 for o in snap.orders if not o.status.terminal)
        self.query_one("#orders-summary", TextLine).set_text(
            f"{len(snap.orders)} recent order(s), {open_orders} open · "
            f"fees paid {fmt_money(snap.fees_paid)} {snap.quote}"
            if snap.orders
            else "No order yet: the first one goes out when a coin reaches the drop trigger.",
        )

    @staticmethod
    def _cells(o: OrderRow) -> tuple[Cell, ...]:
        return (
            cell(time.strftime("%H:%M:%S", time.gmtime(o.ts_ms / 1000))),
            outside_mark(o.symbol, outside=o.outside),
            cell(o.side.upper(), SIDE_COMPONENT.get(o.side, "")),
            cell(fmt_qty(o.qty)),
            cell(fmt_price(o.price, o.decimals)),
            cell(o.status.replace("_", " ")),
            cell(f"{o.filled / o.qty:.0%}" if o.qty else "—"),
            cell(fmt_price(o.avg_price, o.decimals)),
            cell(fmt_money(o.fee, 4)),
            cell(o.reason.replace("_", " ")),
            cell(o.client_id, "muted"),
        )

    def action_cancel_order(self) -> None:
        snap = self.tb_app.snapshot
        key = self.query_one("#orders-table", RowTable).cursor_key
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
