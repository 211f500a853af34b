"""Headless replay: the live trader and paper broker over recorded or historical data.

The same `Trader` the engine runs, fed tick by tick in time order (ties in input order:
the order the files were given, then file order), with every order filled at once by the
paper broker at the tick price. Nothing here is asynchronous: replay is a loop.

Two ways to produce the ticks, with identical output:
  - candles of one period whose starts are at least a period apart (every OHLCV input in
    practice): walk the union of candle starts and emit, per start, the opens of every
    symbol, then the first extremes, the second extremes and the closes. All four ticks
    of a candle fall before the next start, so this is the time order, without a heap;
  - anything else (tick files, mixed periods): a heap merge of the per-file tick streams.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from tradebot_tui.core.book import Trade
from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.market import split_symbol
from tradebot_tui.core.money import fmt_decimal
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.stats import TradeStats, trade_stats
from tradebot_tui.data.feather import CandleStream
from tradebot_tui.data.series import CandleSeries, Series, iter_merged, span_text
from tradebot_tui.replay.feed import NEVER, Feed
from tradebot_tui.replay.session import OpenPosition, PaperSession


class ReplayError(TradebotError):
    """Inputs that cannot be replayed together (e.g. a quote other than the budget's)."""


@dataclass(slots=True)
class ReplayResult:
    ticks: int = 0
    warm_ticks: int = 0
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None
    trades: list[Trade] = field(default_factory=list)
    open_positions: list[OpenPosition] = field(default_factory=list)
    stats: TradeStats = field(default_factory=TradeStats)
    ledger: Ledger | None = None
    symbols: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ticks_per_s(self) -> float:
        return self.ticks / self.elapsed_s if self.elapsed_s > 0 else 0.0


class HasSymbols(Protocol):
    """An input that names its file and its symbols (a series, a stream, a tune coin)."""

    @property
    def path(self) -> Path: ...

    @property
    def symbols(self) -> list[str]: ...


def check_quote(series: Sequence[HasSymbols], quote: str) -> list[str]:
    """Every symbol of the inputs, in order of appearance; all must trade in `quote`."""
    symbols: dict[str, None] = {}
    for s in series:
        for symbol in s.symbols:
            if split_symbol(symbol)[1] != quote:
                raise ReplayError(
                    f"{s.path}: {symbol} is quoted in {split_symbol(symbol)[1]}, but the "
                    f'budget is in {quote}; set budget.quote = "{split_symbol(symbol)[1]}" '
                    "in a config file given with --config"
                )
            symbols.setdefault(symbol, None)
    return list(symbols)


def aligned_starts(series: Sequence[Series]) -> list[int] | None:
    """The sorted candle starts of all inputs when the fast path applies, else None."""
    if not series or not all(isinstance(s, CandleSeries) for s in series):
        return None
    periods = {s.period_ms for s in series if isinstance(s, CandleSeries)}
    if len(periods) != 1:
        return None
    period = periods.pop()
    starts = sorted(set().union(*(s.ts for s in series if isinstance(s, CandleSeries))))
    if any(b - a < period for a, b in itertools.pairwise(starts)):
        return None
    return starts


def run_replay(
    series: Sequence[Series | CandleStream],
    params: StrategyParams,
    *,
    quote: str,
    initial: Decimal,
    from_ms: int | None = None,
    to_ms: int | None = None,
    fast: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> ReplayResult:
    """Replay `series` through a fresh trader and paper broker.

    Ticks before `from_ms` only warm the anchors (those within one anchor window of it);
    ticks after `to_ms` are not read. `fast=False` forces the heap merge (tests compare
    the two). The ledger identity is checked at the end.
    """
    result = ReplayResult(symbols=check_quote(series, quote))
    started = clock()
    session = PaperSession(params, quote, initial)
    trader, ledger, trades = session.trader, session.ledger, session.trades
    execute = session.execute

    lo = -1 if from_ms is None else from_ms
    feed = Feed(
        trader,
        execute,
        lo,
        NEVER if to_ms is None else to_ms,
        lo - params.window_s * 1000,
    )
    streams = [s for s in series if isinstance(s, CandleStream)]
    if (
        fast
        and len(streams) == len(series)
        and all(s.aligned for s in streams)
        and len({s.period_ms for s in streams}) == 1
    ):
        feed.streams(streams)
    else:
        loaded = [s.load() if isinstance(s, CandleStream) else s for s in series]
        starts = aligned_starts(loaded) if fast else None
        if starts is not None:
            feed.candles([s for s in loaded if isinstance(s, CandleSeries)], starts)
        else:
            feed.ticks(iter_merged(loaded))
    ledger.check()
    result.ticks, result.warm_ticks = feed.count, feed.warm
    result.first_ts_ms, result.last_ts_ms = feed.first, feed.last
    result.ledger = ledger
    result.stats = trade_stats(trades, initial)
    result.trades = trades
    result.open_positions = session.open_positions()
    result.elapsed_s = clock() - started
    return result


def report_lines(result: ReplayResult, quote: str) -> list[str]:
    """The replay summary, one figure a line."""
    stats = result.stats
    reasons = ", ".join(f"{reason.value} {n}" for reason, n in stats.reasons.items())
    span = (
        None
        if result.first_ts_ms is None or result.last_ts_ms is None
        else (result.first_ts_ms, result.last_ts_ms)
    )
    lines = [
        f"symbols       {len(result.symbols)}: {', '.join(result.symbols)}",
        f"period        {span_text(span)}",
        f"ticks         {result.ticks:,}"
        + (f" (plus {result.warm_ticks:,} warm-up)" if result.warm_ticks else ""),
        f"trades        {stats.trades}" + (f" ({reasons})" if reasons else ""),
        (
            f"win rate      {stats.win_rate_pct:.1f} % ({stats.wins} of {stats.trades})"
            if stats.trades
            else "win rate      — (no closed trade)"
        ),
        f"pnl           {stats.pnl:+.4f} {quote} (fees {stats.fees:.4f} {quote})",
        f"max drawdown  {stats.max_drawdown:.4f} {quote} ({stats.max_drawdown_pct:.2f} %)",
    ]
    if result.open_positions:
        held = ", ".join(
            f"{p.symbol} {fmt_decimal(p.qty)} @ {fmt_decimal(p.entry_price)}"
            for p in result.open_positions
        )
        lines.append(f"still open    {len(result.open_positions)}: {held}")
    else:
        lines.append("still open    0")
    lines.append(f"speed         {result.ticks_per_s:,.0f} ticks/s ({result.elapsed_s:.2f} s)")
    return lines
