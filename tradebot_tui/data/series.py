"""Replay input in memory: candles and ticks of one file as compact columns
(array.array, 8 bytes a value), and the time-ordered merge of several files.

Every problem reading them is a DataFileError that names the file and the line (or row)
at fault. Nothing here fills gaps: a missing candle stays missing.
"""

from __future__ import annotations

import heapq
import logging
import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.ticks import candle_to_ticks

if TYPE_CHECKING:
    from tradebot_tui.data.feather import CandleStream

# Quote assets, longest first so that FDUSD wins over USD.
_QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "USDP",
    "DAI",
    "BTC",
    "ETH",
    "BNB",
    "EUR",
    "TRY",
    "BRL",
    "GBP",
    "AUD",
    "JPY",
    "RUB",
    "UAH",
    "ZAR",
    "PLN",
    "RON",
    "ARS",
    "MXN",
    "COP",
    "IDR",
    "XRP",
    "DOGE",
    "TRX",
    "SOL",
)
# freqtrade's file names: `BTC_USDT-1m.feather`, `.json`, `.json.gz`.
_FREQTRADE_NAME = re.compile(
    r"^(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)-(?P<tf>\d+[smhdw])"
    r"\.(?P<ext>feather|json|json\.gz)$"
)
log = logging.getLogger("tradebot.data")

_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


class DataFileError(TradebotError):
    """A replay input that cannot be used, with its place: `file:line: message`."""

    def __init__(self, path: Path, where: str | None, message: str) -> None:
        self.path = path
        self.where = where
        self.message = message
        super().__init__(f"{path}:{where}: {message}" if where else f"{path}: {message}")


@dataclass(slots=True)
class CandleSeries:
    """One symbol's candles of one period, in time order."""

    path: Path
    symbol: str
    period_ms: int
    ts: array[int] = field(default_factory=lambda: array("q"))
    open: array[float] = field(default_factory=lambda: array("d"))
    high: array[float] = field(default_factory=lambda: array("d"))
    low: array[float] = field(default_factory=lambda: array("d"))
    close: array[float] = field(default_factory=lambda: array("d"))

    @property
    def symbols(self) -> list[str]:
        return [self.symbol]

    def __len__(self) -> int:
        return len(self.ts)

    def span(self) -> tuple[int, int] | None:
        """The first and last moment its ticks fall on (None when empty)."""
        ts = self.ts
        return (ts[0], ts[-1] + self.period_ms - 1) if len(ts) else None

    def split(self, k: int) -> tuple[CandleSeries, CandleSeries]:
        """The first `k` candles and the rest (no copy when one of them is empty)."""
        p, sym, per = self.path, self.symbol, self.period_ms
        if k >= len(self.ts):
            return self, CandleSeries(p, sym, per)
        if k <= 0:
            return CandleSeries(p, sym, per), self
        o, h, low, c, ts = self.open, self.high, self.low, self.close, self.ts
        return (
            CandleSeries(p, sym, per, ts[:k], o[:k], h[:k], low[:k], c[:k]),
            CandleSeries(p, sym, per, ts[k:], o[k:], h[k:], low[k:], c[k:]),
        )


@dataclass(slots=True)
class TickSeries:
    """Ticks of one or more symbols, in time order (ties in file order)."""

    path: Path
    symbols: list[str] = field(default_factory=list)
    ts: array[int] = field(default_factory=lambda: array("q"))
    symbol_index: array[int] = field(default_factory=lambda: array("I"))
    price: array[float] = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.ts)

    def span(self) -> tuple[int, int] | None:
        """Its first and last tick times (None when empty)."""
        ts = self.ts
        return (ts[0], ts[-1]) if len(ts) else None


Series = CandleSeries | TickSeries


def period_ms(timeframe: str, path: Path) -> int:
    count, unit = int(timeframe[:-1]), timeframe[-1]
    if count <= 0 or unit not in _UNIT_MS:
        raise DataFileError(path, None, f"unsupported timeframe {timeframe!r}")
    return count * _UNIT_MS[unit]


def split_pair(pair: str, path: Path) -> str:
    """`BTCUSDT` -> `BTC/USDT` by the known quote assets."""
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return f"{pair[: -len(quote)]}/{quote}"
    raise DataFileError(
        path, None, f"cannot tell base from quote in {pair!r} (known quotes: {', '.join(_QUOTES)})"
    )


def series_symbols(series: Iterable[Series]) -> list[str]:
    """Every symbol, in order of first appearance."""
    seen: dict[str, None] = {}
    for s in series:
        for sym in s.symbols:
            seen.setdefault(sym, None)
    return list(seen)


def series_span(series: Iterable[Series | CandleStream]) -> tuple[int, int] | None:
    """First and last tick time over all inputs (None when they hold nothing)."""
    spans = [span for s in series if (span := s.span()) is not None]
    if not spans:
        return None
    return min(a for a, _ in spans), max(b for _, b in spans)


def iter_series(s: Series) -> Iterator[tuple[int, str, float]]:
    """A series as ticks: candles become four ticks each (docs/architecture.md,
    "Reference semantics")."""
    if isinstance(s, TickSeries):
        names = s.symbols
        for ts, idx, price in zip(s.ts, s.symbol_index, s.price, strict=True):
            yield ts, names[idx], price
        return
    sym, period = s.symbol, s.period_ms
    for t, o, h, low, c in zip(s.ts, s.open, s.high, s.low, s.close, strict=True):
        for ts, price in candle_to_ticks(t, period, o, h, low, c):
            yield ts, sym, price


def _tick_time(tick: tuple[int, str, float]) -> int:
    return tick[0]


def iter_merged(series: Sequence[Series]) -> Iterator[tuple[int, str, float]]:
    """Every series' ticks in time order; equal times keep the order the series were given."""
    if len(series) == 1:
        return iter_series(series[0])
    # heapq.merge breaks ties by input position.
    return heapq.merge(*(iter_series(s) for s in series), key=_tick_time)


def utc_text(ts_ms: int) -> str:
    """`2026-03-25 14:30:00` (UTC) for a timestamp in milliseconds."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def span_text(span: tuple[int, int] | None) -> str:
    """What a set of files covers, in words."""
    if span is None:
        return "nothing (the files hold no rows)"
    return f"{utc_text(span[0])} to {utc_text(span[1])} UTC"
