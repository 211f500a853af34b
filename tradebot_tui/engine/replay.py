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

import csv
import io
import itertools
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradebot_tui.config.files import write_atomic
from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.market import split_symbol
from tradebot_tui.core.money import fmt_decimal
from tradebot_tui.core.orders import OrderIntent
from tradebot_tui.core.stats import TRADES_CSV_HEADER, TradeStats, trade_stats
from tradebot_tui.core.trader import StrategyParams, Trade, Trader
from tradebot_tui.engine.paper_session import OpenPosition, PaperSession
from tradebot_tui.exchange.datafiles import CandleSeries, CandleStream, Series, iter_merged


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


def check_quote(series: Sequence[Series | CandleStream], quote: str) -> list[str]:
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


class _Feed:
    """Feeds ticks to the trader: warm-up before `lo`, trading up to `hi`, nothing after.

    Warm-up feeds the ticks of the last anchor window before `lo`, preceded by each
    symbol's last older tick: that one lies outside every window from `lo` on, so it
    changes no anchor, but it tells the anchor that the symbol's history is long enough,
    as it would be had the replay started at the beginning of the data.
    """

    __slots__ = (
        "count",
        "done",
        "execute",
        "first",
        "hi",
        "last",
        "lo",
        "older",
        "trader",
        "warm",
        "warm_from",
    )

    def __init__(
        self,
        trader: Trader,
        execute: Callable[[OrderIntent], None],
        lo: int,
        hi: int,
        warm_from: int,
    ) -> None:
        self.trader = trader
        self.execute = execute
        self.lo, self.hi, self.warm_from = lo, hi, warm_from
        self.count = self.warm = 0
        self.done = False  # a tick after `hi` was reached
        self.first: int | None = None
        self.last: int | None = None
        self.older: dict[str, tuple[int, float]] = {}

    def warm_tick(self, ts: int, symbol: str, price: float) -> None:
        """A tick before `lo`: remembered if older than the window, else fed as history."""
        if ts < self.warm_from:
            self.older[symbol] = (ts, price)
            return
        older = self.older.pop(symbol, None)
        if older is not None:
            self.trader.warm(older[0], symbol, older[1])
        self.trader.warm(ts, symbol, price)
        self.warm += 1

    def flush(self) -> None:
        """Symbols whose last tick before `lo` was older than the window."""
        for symbol, (ts, price) in sorted(self.older.items(), key=lambda kv: kv[1][0]):
            self.trader.warm(ts, symbol, price)
        self.older.clear()

    def ticks(self, ticks: Iterator[tuple[int, str, float]]) -> None:
        """Any tick stream in time order."""
        on_tick, execute, lo, hi = self.trader.on_tick, self.execute, self.lo, self.hi
        count = 0
        ts = None
        for ts, symbol, price in ticks:
            if ts < lo:
                self.warm_tick(ts, symbol, price)
                continue
            if ts > hi:
                break
            if self.first is None:
                self.first = ts
                self.flush()
            intent = on_tick(ts, symbol, price)
            if intent is not None:
                execute(intent)
            count += 1
            self.last = ts
        self.count += count

    def candles(self, series: Sequence[CandleSeries], starts: Sequence[int]) -> None:
        """Aligned candles (see the module docstring), without a generator per tick.

        Each tick moves its coin's anchor; only the ticks that can matter reach
        `Trader.decide`: a waiting coin's (idle, cooling down) tick priced above anchor ×
        `reject_above` is rejected there whatever else holds (the trader's own first
        test), so it stops at the anchor. A book's last price is that of its last decided
        tick, which for a held coin is its last tick.
        """
        trader = self.trader
        decide, execute, lo, hi = trader.decide, self.execute, self.lo, self.hi
        reject = trader.reject_above
        waiting_idle, waiting_cool = State.IDLE, State.COOLDOWN
        period = series[0].period_ms
        phases = ((2, 0), (3, period // 4), (4, period // 2), (5, period - 1))
        cursors = [0] * len(series)
        columns: list[Any] = []
        for s in series:
            book = trader.book(s.symbol)
            columns.append((book, s.ts, s.open, s.high, s.low, s.close, len(s)))
        count = 0
        for t in starts:
            # (book, its anchor's update, open, first extreme, second extreme, close)
            rows: list[Any] = []
            for i, (book, ts_col, o, h, low, c, size) in enumerate(columns):
                row = cursors[i]
                if row < size and ts_col[row] == t:
                    cursors[i] = row + 1
                    of, hf, lf = o[row], h[row], low[row]
                    update = book.anchor.update
                    if hf - of <= of - lf:
                        rows.append((book, update, of, hf, lf, c[row]))
                    else:
                        rows.append((book, update, of, lf, hf, c[row]))
            for k, offset in phases:
                ts = t + offset
                if ts < lo or ts > hi:
                    if ts > hi:
                        self.count += count
                        self.done = True
                        return
                    for r in rows:
                        self.warm_tick(ts, r[0].symbol, r[k])
                    continue
                if self.first is None:
                    self.first = ts
                    self.flush()
                for r in rows:
                    price = r[k]
                    anchor = r[1](ts, price)
                    book = r[0]
                    state = book.state
                    if (state is waiting_idle or state is waiting_cool) and (
                        anchor is None or price > anchor * reject
                    ):
                        continue
                    book.last_price = price
                    book.last_ts = ts
                    book.anchor_price = anchor
                    intent = decide(book, ts, price, anchor)
                    if intent is not None:
                        execute(intent)
                count += len(rows)
                self.last = ts
        self.count += count

    def streams(self, streams: Sequence[CandleStream]) -> None:
        """Aligned candle files read a chunk at a time: cut at the earliest chunk end
        across the files, each block is fed by `candles` in turn. Every start of a block
        precedes every start of the next one by at least a period (the files are aligned),
        so all four ticks of its candles come before the next block's first: the same
        ticks in the same order as one `candles` call over the whole files."""
        chunks = [s.chunks() for s in streams]
        heads: list[CandleSeries | None] = [next(c, None) for c in chunks]
        while not self.done:
            live = [h for h in heads if h is not None]
            if not live:
                return
            bound = min(h.ts[-1] for h in live)  # a chunk is never empty
            block = []
            for i, head in enumerate(heads):
                if head is None:
                    continue
                cut = bisect_right(head.ts, bound)
                now, later = head.split(cut)
                if len(now):
                    block.append(now)
                heads[i] = later if len(later) else next(chunks[i], None)
            if block:
                self.candles(block, sorted(set().union(*(b.ts for b in block))))


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
    feed = _Feed(
        trader,
        execute,
        lo,
        _NEVER if to_ms is None else to_ms,
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


_NEVER = 2**62


def utc_text(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def span_text(span: tuple[int, int] | None) -> str:
    if span is None:
        return "nothing (the files hold no rows)"
    return f"{utc_text(span[0])} to {utc_text(span[1])} UTC"


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
        f"win rate      {stats.win_rate_pct:.1f} % ({stats.wins} of {stats.trades})",
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


def trades_csv(trades: Sequence[Trade]) -> str:
    """The trades file of DESIGN.md section 5: same trades, same bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRADES_CSV_HEADER.split(","))
    for t in trades:
        writer.writerow(
            (
                t.symbol,
                t.entry_ts_ms,
                fmt_decimal(t.entry_price),
                t.exit_ts_ms,
                fmt_decimal(t.exit_price),
                fmt_decimal(t.qty),
                t.exit_reason.value,
                fmt_decimal(t.pnl),
            )
        )
    return out.getvalue()


def write_trades(path: Path, trades: Sequence[Trade]) -> None:
    write_atomic(path, trades_csv(trades).encode())
