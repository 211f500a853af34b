"""History: closed trades since the journal began, per day and per coin, and the latest.

The daily PnL is a bar chart (losses left of the axis, gains right): a trader sees a bad
week at a glance. The figures are the ones `tradebot-tui trades --by day|coin` exports
and the daily summary sends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from tradebot_tui.assets import stylesheet
from tradebot_tui.core.book import Trade
from tradebot_tui.core.display import fmt_money, fmt_qty
from tradebot_tui.engine import EngineSnapshot, TallyRow, TradeHistory
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.widgets.bars import pnl_bar
from tradebot_tui.ui.widgets.tables import Cell, right, sync_rows
from tradebot_tui.ui.widgets.text_line import TextLine

BAR_WIDTH = 12
COIN_COLUMNS = ("symbol", "trades", "won", "pnl", "bar")
COIN_LABELS = ("Coin", "Trades", "Won", "PnL", "")
TRADE_COLUMNS = ("closed", "symbol", "reason", "qty", "entry", "exit", "pnl")
TRADE_LABELS = ("Closed (UTC)", "Coin", "Why", "Amount", "Entry", "Exit", "PnL")


class HistoryScreen(TradebotScreen):
    """PnL per day and per coin, and the last closed trades."""

    CSS_PATH = stylesheet("history")

    def __init__(self) -> None:
        super().__init__()
        self._coins: dict[str, tuple[Cell, ...]] = {}
        self._trades: dict[str, tuple[Cell, ...]] = {}
        self._drawn: TradeHistory | None = None

    def compose_body(self) -> ComposeResult:
        yield TextLine(id="history-summary")
        with Horizontal(id="history-top"):
            with Vertical(id="history-days-box"):
                yield TextLine("[b]PnL per day[/] (UTC)", id="history-days-title")
                yield Static(id="history-days")
            coins: DataTable[Cell] = DataTable(id="history-coins", cursor_type="row")
            for key, label in zip(COIN_COLUMNS, COIN_LABELS, strict=True):
                coins.add_column(label, key=key)
            yield coins
        trades: DataTable[Cell] = DataTable(
            id="history-trades", cursor_type="row", zebra_stripes=True
        )
        for key, label in zip(TRADE_COLUMNS, TRADE_LABELS, strict=True):
            trades.add_column(label, key=key)
        yield trades
        yield Static(id="history-empty")

    def show_body(self, snap: EngineSnapshot) -> None:
        history = snap.history
        empty = self.query_one("#history-empty", Static)
        has_trades = history is not None and history.total.trades > 0
        empty.display = not has_trades
        for widget in ("#history-top", "#history-trades"):
            self.query_one(widget).display = has_trades
        if not has_trades or history is None:
            self.query_one("#history-summary", TextLine).set_text("No closed trade yet.")
            empty.update(
                "Closed trades appear here, summed per day and per coin, from the journal "
                "(they survive restarts). [b]tradebot-tui trades[/b] exports them as CSV or JSON."
            )
            return
        if history is self._drawn:
            return  # no trade closed since: nothing to redraw
        self._drawn = history
        theme = self.app.current_theme
        up, down = theme.success or "green", theme.error or "red"
        total = history.total
        best = history.coins[0] if history.coins else None
        worst = history.coins[-1] if history.coins else None
        self.query_one("#history-summary", TextLine).set_text(
            f"[b]{total.trades}[/] closed trades · won {_rate(total)} · PnL "
            f"[b]{fmt_money(total.pnl, sign=True)}[/] {snap.quote} after "
            f"{fmt_money(total.fees)} fees"
            + (f" · best {best.key} {fmt_money(best.pnl, sign=True)}" if best else "")
            + (
                f" · worst {worst.key} {fmt_money(worst.pnl, sign=True)}"
                if worst and worst is not best
                else ""
            )
        )
        self.query_one("#history-days", Static).update(day_bars(history.days, up, down))
        scale = max((abs(r.pnl) for r in history.coins), default=Decimal(0))
        coin_rows = [
            (
                r.key,
                (
                    Text(r.key, style="bold"),
                    right(str(r.trades)),
                    right(_rate(r)),
                    right(
                        fmt_money(r.pnl, sign=True), up if r.pnl > 0 else down if r.pnl < 0 else ""
                    ),
                    pnl_bar(r.pnl, scale, BAR_WIDTH // 2, up, down),
                ),
            )
            for r in history.coins
        ]
        coins = self.query_one("#history-coins", DataTable)
        sync_rows(coins, COIN_COLUMNS, coin_rows, self._coins)
        trade_rows = [
            (f"{t.symbol}@{t.exit_ts_ms}@{n}", _trade_cells(t, up, down))
            for n, t in enumerate(snap.recent_trades)
        ]
        sync_rows(
            self.query_one("#history-trades", DataTable), TRADE_COLUMNS, trade_rows, self._trades
        )


def _color(value: Decimal, up: str, down: str) -> str:
    return up if value > 0 else down if value < 0 else ""


def _rate(row: TallyRow) -> str:
    return f"{row.wins / row.trades:.0%}" if row.trades else "—"


def day_bars(days: tuple[TallyRow, ...], up: str, down: str) -> Text:
    """One line per day: date, PnL bar, figure and trade count (newest at the bottom)."""
    scale = max((abs(r.pnl) for r in days), default=Decimal(0))
    out = Text()
    for n, r in enumerate(days):
        if n:
            out.append("\n")
        out.append(f"{r.key[5:]} ", style="dim")
        out.append_text(pnl_bar(r.pnl, scale, BAR_WIDTH, up, down))
        out.append(f" {fmt_money(r.pnl, sign=True):>9}", style=_color(r.pnl, up, down))
        out.append(f"  {r.trades} trade{'s' if r.trades != 1 else ''}", style="dim")
    return out


def _trade_cells(t: Trade, up: str, down: str) -> tuple[Cell, ...]:
    color = _color(t.pnl, up, down)
    closed = datetime.fromtimestamp(t.exit_ts_ms / 1000, UTC).strftime("%m-%d %H:%M")
    return (
        right(closed),
        Text(t.symbol, style="bold"),
        t.exit_reason.value.replace("_", " "),
        right(fmt_qty(t.qty)),
        right(f"{t.entry_price.normalize():f}"),
        right(f"{t.exit_price.normalize():f}"),
        right(fmt_money(t.pnl, sign=True), color),
    )
