"""Account-wide protections on closed-trade equity, and the kill switch's level.

The daily loss limit counts closed-trade losses since 00:00 UTC; the drawdown limit
measures closed-trade equity (initial + realized pnl - fees) below its highest. Both
pause entries, never exits. The kill switch measures all equity (open positions at
their last prices) against a reference; the engine watches it and trips it.
"""

from __future__ import annotations

from decimal import Decimal

from tradebot_tui.core.anchors import DAY_MS
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.status import Status


class Protections:
    """The daily loss limit and the drawdown limit of one ledger."""

    __slots__ = ("_daily_limit", "_day", "_day_start_equity", "_drawdown_limit", "_ledger", "_peak")

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._day = -1
        self._day_start_equity = ledger.realized_equity()
        self._peak = ledger.realized_equity()
        self._daily_limit = Decimal(0)
        self._drawdown_limit = Decimal(0)

    def set_limits(self, daily_loss_limit_pct: float, max_drawdown_pct: float) -> None:
        """The limits in percent; 0 turns one off."""
        self._daily_limit = Decimal(repr(daily_loss_limit_pct)) / 100
        self._drawdown_limit = Decimal(repr(max_drawdown_pct)) / 100

    def roll_day(self, ts_ms: int) -> None:
        """A new UTC day starts counting its losses from the closed-trade equity now."""
        day = ts_ms // DAY_MS
        if day != self._day:
            self._day = day
            self._day_start_equity = self._ledger.realized_equity()

    def realized(self) -> None:
        """A sale was booked: a new highest closed-trade equity is the drawdown's peak."""
        equity = self._ledger.realized_equity()
        if equity > self._peak:
            self._peak = equity

    def reset_drawdown(self) -> None:
        """Take the closed-trade equity now as the new peak (the trader resumed)."""
        self._peak = self._ledger.realized_equity()

    def blocks(self, ts_ms: int, *, roll: bool = True) -> Status | None:
        """The protection that blocks entries at `ts_ms`, if any.

        Args:
            roll: A decision is being made: the UTC day rolls first (the daily loss
                counts from the first decision of the day). Without it, a day that has
                not started for the trader blocks nothing (the watchlist asking).
        """
        if not (self._daily_limit or self._drawdown_limit):
            return None
        equity = self._ledger.realized_equity()
        if self._drawdown_limit and self._peak - equity >= self._peak * self._drawdown_limit:
            return Status.DRAWDOWN
        if self._daily_limit:
            if roll:
                self.roll_day(ts_ms)
            elif ts_ms // DAY_MS != self._day:
                return None  # a new day that has not started yet for the trader
            start = self._day_start_equity
            if start - equity >= start * self._daily_limit and start > equity:
                return Status.DAILY_LOSS
        return None


class KillSwitchLevel:
    """The equity the kill switch measures from: the budget at first, the equity at the
    moment the trader resumed after a trip."""

    __slots__ = ("reference",)

    def __init__(self, reference: Decimal) -> None:
        self.reference = reference

    def floor(self, pct: float) -> Decimal | None:
        """The equity at which the switch trips (None: `pct` 0 turns it off)."""
        if not pct:
            return None
        return self.reference * (1 - Decimal(repr(pct)) / 100)
