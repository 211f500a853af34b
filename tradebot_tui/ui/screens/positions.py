"""Open positions with their result so far and where each exit rule would fire."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from tradebot_tui.assets import stylesheet
from tradebot_tui.core.display import fmt_duration, fmt_money, fmt_price, fmt_qty
from tradebot_tui.engine import (
    EngineSnapshot,
    ExitAll,
    ExitPosition,
    PositionRow,
    RetryNow,
    SweepDust,
)
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.screens.dialogs import ConfirmDialog
from tradebot_tui.ui.widgets.row_table import Cell, Column, RowTable, cell, outside_mark
from tradebot_tui.ui.widgets.text_line import TextLine

COLUMNS = (
    Column("symbol", "Symbol"),
    Column("qty", "Amount", right=True),
    Column("entry", "Entry", right=True),
    Column("last", "Last", right=True),
    Column("pnl_pct", "PnL %", right=True),
    Column("pnl", "PnL", right=True),
    Column("held", "Held", right=True),
    Column("stop", "Stop loss", right=True),
    Column("take", "Take profit", right=True),
    Column("trail", "Trailing stop", right=True),
    Column("protection", "Exits"),
)


class PositionsScreen(TradebotScreen):
    """What the bot holds now."""

    CSS_PATH = stylesheet("positions")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "exit_one", "Exit", tooltip="Sell the selected position at market"),
        Binding("E", "exit_all", "Exit all", tooltip="Sell every open position at market"),
        Binding(
            "R",
            "retry",
            "Retry",
            tooltip="Settle the order in doubt of a coin in error now",
            show=False,
        ),
        Binding("enter", "chart", "Chart", tooltip="Price chart of the selected coin"),
        Binding(
            "d",
            "sweep_dust",
            "Sweep dust",
            tooltip="Convert the dust the bot holds (below the market minimum) to BNB",
            show=False,
        ),
    ]

    def compose_body(self) -> ComposeResult:
        yield TextLine(id="positions-summary")
        yield RowTable(COLUMNS, id="positions-table")
        yield Static(id="positions-empty")

    def show_body(self, snap: EngineSnapshot) -> None:
        rows = [(p.symbol, self._cells(p)) for p in snap.positions]
        self.query_one("#positions-table", RowTable).set_rows(rows)
        self.query_one("#positions-summary", TextLine).set_text(summary_text(snap))
        empty = self.query_one("#positions-empty", Static)
        empty.display = not snap.positions
        if not snap.positions:
            empty.update(
                f"No open position. The bot buys when a coin trades {snap.trigger_pct:.2f}% "
                "below its anchor; the watchlist (w) shows how close each one is."
            )

    @staticmethod
    def _cells(p: PositionRow) -> tuple[Cell, ...]:
        color = "up" if p.pnl > 0 else "down" if p.pnl < 0 else ""
        d = p.decimals
        return (
            outside_mark(p.symbol, outside=p.outside),
            cell(fmt_qty(p.qty)),
            cell(fmt_price(p.entry_price, d)),
            cell(fmt_price(p.last, d)),
            cell(f"{p.pnl_pct:+.2f}%", color),
            cell(fmt_money(p.pnl, sign=True), color),
            cell(fmt_duration(p.held_ms)),
            cell(exit_level(p.stop_price, p.last, d)),
            cell(exit_level(p.take_price, p.last, d)),
            cell(exit_level(p.trail_price, p.last, d) if p.trail_price else "not armed"),
            cell(p.protection or "in the bot", "" if p.protected else "down"),
        )

    # -- actions ---------------------------------------------------------------------------

    def _selected(self) -> PositionRow | None:
        snap = self.tb_app.snapshot
        key = self.query_one("#positions-table", RowTable).cursor_key
        return next((p for p in snap.positions if p.symbol == key), None) if snap else None

    def action_sweep_dust(self) -> None:
        self.tb_app.send_command(SweepDust())

    def action_retry(self) -> None:
        position = self._selected()
        if position is None:
            self.notify("No position selected.", severity="warning")
            return
        self.tb_app.send_command(RetryNow(position.symbol))

    def action_exit_one(self) -> None:
        position = self._selected()
        if position is None:
            self.notify("No position selected.", severity="warning")
            return
        snap = self.tb_app.snapshot
        assert snap is not None
        d = position.decimals
        lines = [
            f"Sell {fmt_qty(position.qty)} {position.symbol} at market now.",
            f"Entry {fmt_price(position.entry_price, d)} · last {fmt_price(position.last, d)} · "
            f"PnL {fmt_money(position.pnl, sign=True)} {snap.quote} ({position.pnl_pct:+.2f}%)",
            "The coin then cools down before the bot may buy it again.",
        ]
        if position.protection.startswith("OCO"):
            lines.insert(1, "Its order list (take-profit and stop) is canceled first.")

        def answer(yes: bool | None) -> None:
            if yes and self.tb_app.send_command(ExitPosition(position.symbol)):
                self.notify(f"Selling {position.symbol} at market…", title="Exit sent")

        self.app.push_screen(
            ConfirmDialog(f"Exit {position.symbol}?", lines, yes="Sell", danger=True), answer
        )

    def action_exit_all(self) -> None:
        snap = self.tb_app.snapshot
        if snap is None or not snap.positions:
            self.notify("No open position to exit.", severity="warning")
            return
        total = sum((p.pnl for p in snap.positions), start=Decimal(0))
        lines = [
            f"{p.symbol}: {fmt_qty(p.qty)} · PnL {fmt_money(p.pnl, sign=True)}"
            for p in snap.positions
        ]
        lines.append(
            f"Together: PnL {fmt_money(total, sign=True)} {snap.quote} at the last prices."
        )

        def answer(yes: bool | None) -> None:
            if yes and self.tb_app.send_command(ExitAll()):
                self.notify(
                    f"Selling {len(snap.positions)} position(s) at market…", title="Exit all sent"
                )

        self.app.push_screen(
            ConfirmDialog(
                "Exit the open position?"
                if len(snap.positions) == 1
                else f"Exit all {len(snap.positions)} positions?",
                lines,
                yes="Sell all",
                danger=True,
            ),
            answer,
        )

    def on_row_table_row_selected(self, event: RowTable.RowSelected) -> None:
        # The table takes Enter for itself and says so with this message.
        event.stop()
        self.action_chart()

    def action_chart(self) -> None:
        position = self._selected()
        if position is not None:
            self.tb_app.chart(position.symbol)


def summary_text(snap: EngineSnapshot) -> str:
    """The line above the table: open positions, and the closed trades as history has them."""
    unrealized = sum((p.pnl for p in snap.positions), start=Decimal(0))
    closed, fees, on_open = snap.realized_parts()
    return (
        f"Open [b]{snap.open_positions}/{snap.max_positions}[/] · "
        f"invested {fmt_money(snap.in_positions)} {snap.quote} · "
        f"unrealized {fmt_money(unrealized, sign=True)} · "
        + (
            f"{snap.trades} closed (won {snap.wins / snap.trades:.0%}): "
            f"{fmt_money(closed, sign=True)} after {fmt_money(fees)} fees"
            if snap.trades
            else "no closed trade yet"
        )
        + (f" · on open positions so far {fmt_money(on_open, sign=True)}" if on_open else "")
        + (f" · {snap.dust} (d: convert to BNB)" if snap.dust else "")
    )


def exit_level(price: float | None, last: float, decimals: int) -> str:
    """An exit level and where it sits against the last price: `0.9242 (2.9% below)`."""
    if price is None:
        return "—"
    if not last:
        return fmt_price(price, decimals)
    away = (price / last - 1) * 100
    if f"{abs(away):.1f}" == "0.0":
        return f"{fmt_price(price, decimals)} (at the last price)"
    side = "above" if away > 0 else "below"
    return f"{fmt_price(price, decimals)} ({abs(away):.1f}% {side})"
