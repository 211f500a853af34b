"""The replay's feed: ticks of the inputs to the trader, in time order, with warm-up.

`Feed.ticks` takes any tick stream; `Feed.candles` walks aligned candles without a
generator per tick and skips, in blocks and candle by candle, the ticks of waiting coins
that cannot matter; `Feed.streams` does the same over files read a chunk at a time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.orders import OrderIntent
from tradebot_tui.core.trader import Trader
from tradebot_tui.data.feather import CandleStream
from tradebot_tui.data.series import CandleSeries

NEVER = 2**62
_BLOCK = 32  # candle starts tested at once for quiet coins


def _exits_quiet(book: Any, high: float, low: float, last_ts: int) -> bool:
    """Whether a held coin's ticks priced between `low` and `high`, the last at
    `last_ts`, can be left undecided: no exit is due or can fire (`ExitWatch.quiet`,
    which then applies their peak), and its window may be refilled or take them at once.
    """
    watch = book.watch
    return (
        book.exit_due is None
        and watch is not None
        and book.anchor.refillable
        and watch.quiet(high, low, last_ts)
    )


class Feed:
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
        "refused",
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
        # Idle coins whose entry was refused for a reason only an executed order lifts
        # (`core.signals.ORDER_LIFTED`): not decided again until one is (their windows
        # still take every tick).
        self.refused: set[Any] = set()

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

        Only the ticks that can matter reach `Trader.decide`: a waiting coin's (idle,
        cooling down) tick priced above anchor × `reject_above` is rejected there
        whatever else holds (the trader's own first test). Such ticks are skipped a
        block of `_BLOCK` candle starts at a time when the block's lowest price is above
        the highest of every window in it × that bar (`AnchorTracker.quiet_span`; the
        window is refilled from the candles before its next use), else a candle at a time
        (`AnchorTracker.quiet_candle`), else one by one after the anchor's update. A
        book's last price is that of its last decided tick, for a held coin its last.
        """
        trader = self.trader
        period = series[0].period_ms
        # Candles starting after a block's first start - `span` hold every tick of every
        # window of the block's ticks.
        span = trader.params.window_s * 1000 + period
        columns: list[Any] = []
        for s in series:
            columns.append((trader.book(s.symbol), s.ts, s.open, s.high, s.low, s.close, len(s)))
        cursors = [0] * len(series)
        stale: set[int] = set()
        lo, hi = self.lo, self.hi
        try:
            for k in range(0, len(starts), _BLOCK):
                block = starts[k : k + _BLOCK]
                first, last = block[0], block[-1]
                in_range = lo <= first and last + period - 1 <= hi and self.first is not None
                if in_range and self._quiet_block(
                    columns, cursors, stale, first, last, period, span
                ):
                    self.last = last + period - 1
                    continue
                if self._candles(columns, cursors, stale, block, period, span):
                    return
        finally:
            for i in stale:
                row = cursors[i]
                self._refill(columns[i], row, columns[i][1][row - 1] + period, period, span)

    def _quiet_block(
        self,
        columns: list[Any],
        cursors: list[int],
        stale: set[int],
        first: int,
        last: int,
        period: int,
        span: int,
    ) -> bool:
        """Skip the candles of coins that are quiet from `first` to `last` (in range);
        True when no coin has any other candle there.

        A waiting coin is quiet when no tick can reach its anchor × `reject_above`
        (`AnchorTracker.quiet_span`); a held coin when no tick can fire an exit
        (`ExitWatch.quiet`, which applies their peak to the trailing stop): it makes no
        decision there, and none of the other coins' decisions reads its price. Either
        way its window is refilled before its next tick (`_refill`).
        """
        reject = self.trader.reject_above
        waiting_idle, waiting_cool, held = State.IDLE, State.COOLDOWN, State.IN_POSITION
        left = False
        for i, (book, ts_col, _o, h, low, c, size) in enumerate(columns):
            a = cursors[i]
            if a >= size or ts_col[a] > last:
                continue
            state = book.state
            b = bisect_right(ts_col, last, a)
            w = bisect_right(ts_col, first - span, 0, a)
            anchor = book.anchor
            # The windows reach back before these columns (an earlier chunk): not here.
            if not (w > 0 or anchor.first_ts in (None, ts_col[0])):
                left = True
            elif state is waiting_idle or state is waiting_cool:
                if anchor.quiet_span(
                    ts_col[a], ts_col[b - 1] + period - 1, min(low[a:b]), max(h[w:b]), reject
                ):
                    self.count += 4 * (b - a)
                    cursors[i] = b
                    stale.add(i)
                else:
                    left = True
            elif state is held and _exits_quiet(
                book, max(h[a:b]), min(low[a:b]), ts_col[b - 1] + period - 1
            ):
                # Its last tick, the block's last close: what a held coin's book shows.
                book.last_price, book.last_ts = c[b - 1], ts_col[b - 1] + period - 1
                self.count += 4 * (b - a)
                cursors[i] = b
                stale.add(i)
            else:
                left = True
        return not left

    def _refill(self, column: Any, row: int, t: int, period: int, span: int) -> None:
        """Refill the window of a coin skipped by `_quiet_block`, for its next tick (at
        `t` or later) after its candles before `row`."""
        book, ts_col, o, h, low, c, _size = column
        w = bisect_right(ts_col, t - span, 0, row)
        book.anchor.refill(ts_col, o, h, low, c, w, row, period)

    def _candles(
        self,
        columns: list[Any],
        cursors: list[int],
        stale: set[int],
        starts: Sequence[int],
        period: int,
        span: int,
    ) -> bool:
        """The candles of the coins left at `starts`, a start at a time; True when a tick
        after `hi` was reached."""
        trader = self.trader
        decide, execute, lo, hi = trader.decide, self.execute, self.lo, self.hi
        reject = trader.reject_above
        waiting_idle, waiting_cool, held = State.IDLE, State.COOLDOWN, State.IN_POSITION
        phases = ((2, 0), (3, period // 4), (4, period // 2), (5, period - 1))
        refused, signals = self.refused, trader.signals
        count = 0
        # The coins with candles among `starts` (the others were passed over whole).
        end = starts[-1]
        active = [
            (i, column)
            for i, column in enumerate(columns)
            if cursors[i] < column[6] and column[1][cursors[i]] <= end
        ]
        for t in starts:
            # Every tick of the candles at t in range, flushed: a waiting coin's candle
            # whose ticks are all above anchor × `reject` goes to its window at once.
            whole = lo <= t and t + period - 1 <= hi and self.first is not None
            # (book, its anchor's update, open, first extreme, second extreme, close)
            rows: list[Any] = []
            for i, column in active:
                book, ts_col, o, h, low, c, size = column
                row = cursors[i]
                if row < size and ts_col[row] == t:
                    cursors[i] = row + 1
                    if stale and i in stale:
                        stale.discard(i)
                        self._refill(column, row, t, period, span)
                    of, hf, lf, cf = o[row], h[row], low[row], c[row]
                    # `core.ticks.candle_to_ticks`'s order of the extremes, inline (hot).
                    if hf - of <= of - lf:
                        first, second = hf, lf
                    else:
                        first, second = lf, hf
                    anchor = book.anchor
                    state = book.state
                    if whole:
                        if state is waiting_idle or state is waiting_cool:
                            if anchor.quiet_candle(t, period, of, first, second, cf, reject):
                                count += 4
                                continue
                        # A candle's ticks lie within its high and low (the readers
                        # refuse any other), or its open and close if built otherwise.
                        elif state is held and _exits_quiet(
                            book, max(hf, of, cf), min(lf, of, cf), t + period - 1
                        ):
                            # No exit can fire: the window takes the ticks at once, the
                            # book shows the last one (a held coin's last price).
                            anchor.take_candle(t, period, of, first, second, cf)
                            book.last_price, book.last_ts = cf, t + period - 1
                            count += 4
                            continue
                    rows.append((book, anchor.update, of, first, second, cf))
            if whole and not rows:
                self.last = t + period - 1
                continue
            for k, offset in phases:
                ts = t + offset
                if ts < lo or ts > hi:
                    if ts > hi:
                        self.count += count
                        self.done = True
                        return True
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
                        anchor is None or price > anchor * reject or book in refused
                    ):
                        continue
                    book.last_price = price
                    book.last_ts = ts
                    book.anchor_price = anchor
                    refusals = signals.order_refusals
                    intent = decide(book, ts, price, anchor)
                    if intent is not None:
                        execute(intent)
                        refused.clear()
                    elif signals.order_refusals != refusals:
                        refused.add(book)
                count += len(rows)
                self.last = ts
        self.count += count
        return False

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
                # Files with the same candle times (the usual case) need no merge.
                first = block[0].ts
                same = all(b.ts == first for b in block)
                self.candles(block, first if same else sorted(set().union(*(b.ts for b in block))))
