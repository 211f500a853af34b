"""Summary figures of a list of closed trades (replay report, later the app's PnL)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from tradebot_tui.core.book import Trade
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.money import DIVISION, EXACT, ZERO

TRADES_CSV_HEADER = "symbol,entry_ts_ms,entry_price,exit_ts_ms,exit_price,qty,exit_reason,pnl_quote"


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Closed-trade figures, exact in quote.

    Attributes:
        trades: Number of closed trades.
        wins: Trades whose pnl (fees included) is above zero.
        pnl: Sum of the trades' pnl (fees already subtracted).
        fees: Fees paid by the closed trades (entry and exit).
        max_drawdown: Largest fall of closed-trade equity from its running peak.
        max_drawdown_pct: That fall as a percentage of the peak it fell from.
        reasons: Number of trades per exit reason.
    """

    trades: int = 0
    wins: int = 0
    pnl: Decimal = ZERO
    fees: Decimal = ZERO
    max_drawdown: Decimal = ZERO
    max_drawdown_pct: Decimal = ZERO
    reasons: dict[ExitReason, int] = field(default_factory=dict)

    @property
    def win_rate_pct(self) -> Decimal:
        if not self.trades:
            return ZERO
        with localcontext(DIVISION):
            return Decimal(self.wins) * 100 / self.trades


def trade_stats(trades: Iterable[Trade], initial_equity: Decimal) -> TradeStats:
    """Figures of `trades` (in exit order) for an account that started at `initial_equity`.

    Drawdown is measured on closed-trade equity: initial plus the pnl of every trade
    closed so far, the same equity the max-drawdown protection watches.
    """
    count = wins = 0
    pnl = fees = ZERO
    peak = equity = initial_equity
    worst = worst_pct = ZERO
    reasons: Counter[ExitReason] = Counter()
    with localcontext(EXACT):
        for trade in trades:
            count += 1
            wins += trade.pnl > 0
            pnl += trade.pnl
            fees += trade.fees
            reasons[trade.exit_reason] += 1
            equity += trade.pnl
            if equity > peak:
                peak = equity
            fall = peak - equity
            if fall > worst:
                worst = fall
                with localcontext(DIVISION):
                    worst_pct = fall * 100 / peak if peak > 0 else ZERO
    order = list(ExitReason)
    return TradeStats(
        trades=count,
        wins=wins,
        pnl=pnl,
        fees=fees,
        max_drawdown=worst,
        max_drawdown_pct=worst_pct,
        reasons={r: reasons[r] for r in sorted(reasons, key=order.index)},
    )
