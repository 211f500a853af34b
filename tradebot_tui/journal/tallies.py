"""Closed trades summed per UTC day and per coin, as they close: the daily summary, the
history screen, `tradebot-tui trades --by day|coin`.

Fed with every trade the router closes, journal replay included, so a restart gives the
same figures. Memory grows with days and coins traded, never with ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from tradebot_tui.core.book import Trade
from tradebot_tui.core.money import EXACT


@dataclass(slots=True)
class Tally:
    """Closed trades of one day or one coin."""

    trades: int = 0
    wins: int = 0
    pnl: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)

    def add(self, trade: Trade) -> None:
        self.trades += 1
        self.wins += trade.pnl > 0
        with localcontext(EXACT):
            self.pnl += trade.pnl
            self.fees += trade.fees


def utc_day(ts_ms: int) -> str:
    """`2026-12-01` for a timestamp in milliseconds."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")


class Tallies:
    """Totals, per UTC day (by exit time) and per coin."""

    def __init__(self) -> None:
        self.total = Tally()
        self.days: dict[str, Tally] = {}
        self.coins: dict[str, Tally] = {}

    def add(self, trade: Trade) -> None:
        self.total.add(trade)
        self.days.setdefault(utc_day(trade.exit_ts_ms), Tally()).add(trade)
        self.coins.setdefault(trade.symbol, Tally()).add(trade)

    def day(self, day: str) -> Tally:
        return self.days.get(day, Tally())
