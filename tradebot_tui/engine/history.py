"""Bounded price and equity histories for the sparklines and charts.

Per symbol, one bar per minute of engine time (close, low, high) for the last `MINUTES`
minutes; for the account, the equity at the end of
each minute for the last day. Both are rings: nothing grows with uptime.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from typing import NamedTuple

MINUTE_MS = 60_000
MINUTES = 240  # four hours: the default max hold, so a whole trade fits on the chart
SPARK_MINUTES = 60
EQUITY_MINUTES = 1440


class Bar(NamedTuple):
    """One minute of one symbol."""

    ts_ms: int  # start of the minute
    close: float
    low: float
    high: float


class _Series:
    __slots__ = ("bars", "close", "high", "low", "minute", "spark_base")

    def __init__(self, minute: int, price: float) -> None:
        self.minute = minute
        self.close = self.low = self.high = price
        self.bars: deque[Bar] = deque(maxlen=MINUTES)
        self.spark_base: tuple[float, ...] = ()


class PriceHistory:
    """Minute bars of every symbol, fed tick by tick."""

    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}

    def add(self, ts_ms: int, symbol: str, price: float) -> None:
        minute = ts_ms // MINUTE_MS
        s = self._series.get(symbol)
        if s is None:
            self._series[symbol] = _Series(minute, price)
            return
        # A tick stamped in an older minute (clock skew) joins the current one.
        if minute > s.minute:
            s.bars.append(Bar(s.minute * MINUTE_MS, s.close, s.low, s.high))
            closes = [b.close for b in s.bars]
            s.spark_base = tuple(closes[-(SPARK_MINUTES - 1) :])
            s.minute = minute
            s.low = s.high = price
        s.close = price
        if price < s.low:
            s.low = price
        elif price > s.high:
            s.high = price

    def keep(self, symbols: Collection[str]) -> None:
        """Forget the bars of every other symbol (one that left the universe)."""
        for symbol in [s for s in self._series if s not in symbols]:
            del self._series[symbol]

    def __len__(self) -> int:
        return len(self._series)

    def spark(self, symbol: str) -> tuple[float, ...]:
        """Closes of the last hour, the current minute last (empty before any tick)."""
        s = self._series.get(symbol)
        if s is None:
            return ()
        return (*s.spark_base, s.close)

    def bars(self, symbol: str) -> tuple[Bar, ...]:
        """Every kept bar of `symbol`, the current (unfinished) minute last."""
        s = self._series.get(symbol)
        if s is None:
            return ()
        current = Bar(s.minute * MINUTE_MS, s.close, s.low, s.high)
        return (*s.bars, current)


class EquityHistory:
    """Equity once a minute of engine time, for the last day."""

    def __init__(self) -> None:
        self._points: deque[tuple[int, float]] = deque(maxlen=EQUITY_MINUTES)
        self._cached: tuple[tuple[int, float], ...] = ()

    def add(self, ts_ms: int, equity: float) -> None:
        """Record the equity at `ts_ms`; a second point in the same minute replaces the first."""
        points = self._points
        if points and points[-1][0] // MINUTE_MS == ts_ms // MINUTE_MS:
            points[-1] = (ts_ms, equity)
        elif not points or ts_ms > points[-1][0]:
            points.append((ts_ms, equity))
        self._cached = tuple(points)

    def points(self) -> tuple[tuple[int, float], ...]:
        return self._cached
