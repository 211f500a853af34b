"""Charts: the account's equity over time, and one symbol's price with what the bot saw.

The price chart shows the symbol's minute closes (the last four hours), its anchor and
the trigger line (where the bot buys now), and the bot's entries (▲) and exits (▼).
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from tradebot_tui.assets import stylesheet
from tradebot_tui.core.display import fmt_money
from tradebot_tui.engine import EngineSnapshot
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.widgets.chart import Chart, ChartData, Level, Marker

REDRAW_S = 0.5


class ChartsScreen(TradebotScreen):
    """Equity on top, the selected symbol's price below."""

    CSS_PATH = stylesheet("charts")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "cycle(-1)", "Prev coin", tooltip="Chart the previous coin"),
        Binding("right_square_bracket", "cycle(1)", "Next coin", tooltip="Chart the next coin"),
    ]

    _drawn_at = -1e9
    _drawn_symbol: str | None = None

    def compose_body(self) -> ComposeResult:
        yield Chart(id="equity-chart")
        yield Chart(id="price-chart")

    def resumed(self) -> None:
        self._drawn_at = -1e9
        self.tb_app.focus_engine(self.tb_app.selected_symbol)
        super().resumed()

    def on_screen_suspend(self) -> None:
        self.tb_app.focus_engine(None)

    def action_cycle(self, step: int) -> None:
        snap = self.tb_app.snapshot
        if snap is None or not snap.watch:
            return
        symbols = [r.symbol for r in snap.watch]
        current = self.tb_app.selected_symbol
        i = symbols.index(current) if current in symbols else -step
        self.tb_app.select_symbol(symbols[(i + step) % len(symbols)])
        self.tb_app.focus_engine(self.tb_app.selected_symbol)

    def show_body(self, snap: EngineSnapshot) -> None:
        # Redrawing a chart is a few milliseconds of Python: twice a second is enough for a
        # line a minute wide, except when the coin changes.
        now = time.monotonic()
        symbol = snap.focus.symbol if snap.focus is not None else None
        if now - self._drawn_at < REDRAW_S and symbol == self._drawn_symbol:
            return
        self._drawn_at, self._drawn_symbol = now, symbol
        self.query_one("#equity-chart", Chart).set_data(self._equity(snap))
        self.query_one("#price-chart", Chart).set_data(self._price(snap))

    @staticmethod
    def _equity(snap: EngineSnapshot) -> ChartData:
        return ChartData(
            title=f"Equity ({snap.quote})",
            points=snap.equity_curve,
            levels=[Level(float(snap.initial), "start", "anchor")],
            decimals=2,
            extra={
                "now": fmt_money(snap.equity),
                "today": fmt_money(snap.pnl_today, sign=True),
                "total": fmt_money(snap.total_pnl, sign=True),
            },
        )

    def _price(self, snap: EngineSnapshot) -> ChartData:
        focus = snap.focus
        symbol = self.tb_app.selected_symbol
        if focus is None or focus.symbol != symbol:
            return ChartData(
                title=f"Price of {symbol or '—'}",
                empty_text="choose a coin in the watchlist (Enter) or with [ and ]",
            )
        points = [(b.ts_ms, b.close) for b in focus.bars]
        levels = []
        if focus.anchor is not None:
            levels.append(Level(focus.anchor, "anchor", "anchor"))
        if focus.trigger_price is not None:
            levels.append(Level(focus.trigger_price, "buy below", "trigger"))
        start = points[0][0] if points else 0
        markers = []
        for t in snap.recent_trades:
            if t.symbol != symbol:
                continue
            if t.entry_ts_ms >= start:
                markers.append(Marker(t.entry_ts_ms, float(t.entry_price), "▲", "entry"))
            if t.exit_ts_ms >= start:
                markers.append(Marker(t.exit_ts_ms, float(t.exit_price), "▼", "exit"))
        if focus.entry is not None and focus.entry[0] >= start:
            markers.append(Marker(focus.entry[0], focus.entry[1], "▲", "entry"))
        row = next((r for r in snap.watch if r.symbol == symbol), None)
        extra = {}
        if row is not None and row.drop_pct is not None:
            extra["drop"] = f"{row.drop_pct:.2f}% (trigger {snap.trigger_pct:.2f}%)"
        if row is not None:
            extra["status"] = row.status.value
        return ChartData(
            title=f"Price of {symbol} (1-minute closes; ▲ entry ▼ exit)",
            points=points,
            levels=levels,
            markers=markers,
            decimals=focus.decimals,
            extra=extra,
            empty_text="no price yet",
        )
