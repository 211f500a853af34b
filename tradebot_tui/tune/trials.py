"""Many replays of one data set: what `tune` runs for each trial, exactly `run_replay`.

A trial is a replay with other settings. Its trades must equal `run_replay`'s trade for
trade (docs/architecture.md, "Reference semantics"), so a trial runs the same `Trader`
and reference fills; it is faster only by doing once what every trial shares, and by not
feeding ticks that cannot change anything:

  - the candles are read and expanded to ticks once (`TrialData`), as per-symbol columns;
  - the rolling high of every tick is computed once per anchor window (`TableAnchor`),
    with, per block of ticks, the lowest ratio of price to rolling high;
  - a coin that waits for an entry (idle or cooling down) is fed only the ticks priced
    at or below its rolling high × `Trader.reject_above`: `on_tick` rejects every other
    tick before its exact formula, and the anchor (rolling high or hybrid) is never above
    the rolling high. Whole blocks whose lowest ratio is above that bound are passed over;
  - a held coin is fed only the ticks its `ExitWatch` cannot prove quiet
    (`ExitWatch.quiet`): whole blocks between its stop, take-profit, trailing and arming
    prices before its deadline are passed over, their peak applied.

The coins' fed ticks are merged in the replay's order (time, then input order) with a
heap, so budget, position count and protections see the same sequence of decisions.
This path applies to candles of one period with aligned starts, one file per coin, and
an anchor mode other than `session_open` (which needs every tick); anything else runs
`run_replay` itself on data loaded once.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

# numpy arrives with Optuna: it builds the trial data (never the trials' hot loops,
# which read `array`s: indexing one gives a Python float, numpy's a slower scalar).
import numpy as np

from tradebot_tui.core.anchors import AnchorMode, TableAnchor
from tradebot_tui.core.book import Trade
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.ticks import candle_to_ticks
from tradebot_tui.data.feather import CandleStream, open_candle_stream
from tradebot_tui.data.files import read_file
from tradebot_tui.data.series import CandleSeries, Series, series_span
from tradebot_tui.replay.runner import aligned_starts, check_quote, run_replay
from tradebot_tui.replay.session import OpenPosition, PaperSession

BLOCK = 64  # ticks a block: the unit passed over at once
_NOT_YET = float("inf")  # the ratio of a tick before the anchor's window is full
_SKIPPING_MODES = (AnchorMode.ROLLING_HIGH, AnchorMode.HYBRID)
_WAITING = (State.IDLE, State.COOLDOWN)


@dataclass(slots=True)
class TrialRun:
    """The outcome of one replay: closed trades in exit order, and what is still held."""

    trades: list[Trade]
    open_positions: list[OpenPosition]
    fed: int  # ticks handed to the trader (the rest were proven not to matter)


class TickTimes:
    """A coin's tick times, from its candles' starts: a candle's four ticks fall at its
    start, a quarter and a half of its period in, and its last millisecond
    (`candle_to_ticks`). Tick `i` is at `starts[i >> 2] * unit + offsets[i & 3]`; the
    hot loops compute that themselves, `bisect` reads this sequence.

    When every start is a whole number of periods after the first, `starts` holds that
    number (4 bytes a candle, `unit` the period, the first start folded into `offsets`);
    otherwise the starts themselves (8 bytes, `unit` 1). Against 32 bytes for four times.
    """

    __slots__ = ("offsets", "starts", "unit")

    def __init__(self, candle_starts: Sequence[int], period_ms: int) -> None:
        given = np.asarray(candle_starts, dtype=np.int64)
        first = int(given[0]) if len(given) else 0
        steps, rest = np.divmod(given - first, period_ms)
        if not rest.any() and (not len(steps) or steps[-1] < 2**31):
            self.starts, self.unit = array("i", steps.astype(np.int32).tobytes()), period_ms
        else:
            self.starts, self.unit, first = array("q", given.tobytes()), 1, 0
        o0, o1, o2, o3 = tick_offsets(period_ms)
        self.offsets = (first + o0, first + o1, first + o2, first + o3)

    def __len__(self) -> int:
        return 4 * len(self.starts)

    def __getitem__(self, i: int) -> int:
        if i < 0:
            i += 4 * len(self.starts)
        return self.starts[i >> 2] * self.unit + self.offsets[i & 3]

    def candle_starts(self) -> array[int]:
        """Each candle's start."""
        steps = np.frombuffer(self.starts, dtype=self.starts.typecode).astype(np.int64)
        return array("q", (steps * self.unit + self.offsets[0]).tobytes())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TickTimes):
            return NotImplemented
        return list(self.candle_starts()) == list(other.candle_starts()) and (
            self.offsets[1] - self.offsets[0] == other.offsets[1] - other.offsets[0]
        )

    __hash__ = None  # type: ignore[assignment]  # mutable contents


def tick_offsets(period_ms: int) -> tuple[int, int, int, int]:
    """Where a candle's four ticks fall from its start (`candle_to_ticks`)."""
    ticks = candle_to_ticks(0, period_ms, 1.0, 1.0, 1.0, 1.0)
    return ticks[0][0], ticks[1][0], ticks[2][0], ticks[3][0]


def _block_extremes(price: np.ndarray, pad: float, reduce: str) -> array[float]:
    """Per block of `BLOCK` ticks, the highest (`reduce` "max") or lowest price."""
    tail = -len(price) % BLOCK
    padded = np.concatenate((price, np.full(tail, pad))) if tail else price
    blocks = getattr(padded.reshape(-1, BLOCK), reduce)(axis=1)
    return array("d", blocks.tobytes())


class _Coin:
    """One symbol's ticks as columns, with per-block extremes of its prices.

    Built with numpy (which Optuna brings), filling the arrays the trials read: no
    object a tick, even for a moment (a year of a pair is two million ticks)."""

    __slots__ = ("high", "low", "path", "period_ms", "price", "symbol", "ts")

    def __init__(self, series: CandleSeries) -> None:
        self.symbol = series.symbol
        self.path = series.path
        self.period_ms = series.period_ms
        self.ts = TickTimes(series.ts, series.period_ms)
        # The four ticks of each candle (`candle_to_ticks`): its open, the extreme nearer
        # to the open (the high on a tie), the other one, its close.
        o, h, lo, c = (
            np.asarray(col, dtype=np.float64)
            for col in (series.open, series.high, series.low, series.close)
        )
        high_first = (h - o) <= (o - lo)
        # Arrays, not lists: 8 bytes a value instead of an object each, and pages that
        # forked workers share for good (reading a list's floats writes their counts).
        self.price = array("d", bytes(32 * len(o)))
        price = np.frombuffer(self.price, dtype=np.float64)
        price[0::4] = o
        price[1::4] = np.where(high_first, h, lo)
        price[2::4] = np.where(high_first, lo, h)
        price[3::4] = c
        self.high = _block_extremes(price, -np.inf, "max")
        self.low = _block_extremes(price, np.inf, "min")

    @property
    def symbols(self) -> list[str]:
        return [self.symbol]

    def candles(self) -> CandleSeries:
        """The candles the ticks came from, exactly (a candle's four ticks are its open,
        its two extremes in some order, and its close)."""
        price = self.price
        first, second = price[1::4], price[2::4]
        return CandleSeries(
            self.path,
            self.symbol,
            self.period_ms,
            self.ts.candle_starts(),
            price[0::4],
            array("d", map(max, first, second)),
            array("d", map(min, first, second)),
            price[3::4],
        )


_CHUNK = 1 << 17  # ticks a pass of the rolling-high table (a few MB a level)


def window_backs(stamps: np.ndarray, prices: np.ndarray, window_ms: int, out: np.ndarray) -> None:
    """`out[i]`: how many ticks back from tick `i` the highest price of the window ending
    at it lies (ticks `j <= i` with `stamps[j] > stamps[i] - window_ms`): the rolling
    high `AnchorTracker.update` keeps at the front of its deque is `prices[i - out[i]]`.

    A sparse table (the index of the highest price over runs of 2**k ticks), a chunk of
    ticks at a time: each window is covered by two overlapping runs of the same length.
    """
    n = len(stamps)
    first = np.searchsorted(stamps, stamps - window_ms, side="right")
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        base = int(first[lo])  # the chunk's earliest window start (starts never fall)
        seg = prices[base:hi]
        start = first[lo:hi] - base  # each window is [start, end] in `seg`
        end = np.arange(lo - base, hi - base)
        level = np.frexp((end - start + 1).astype(np.float64))[1] - 1  # floor(log2(len))
        table = np.arange(len(seg))  # runs of 1 tick: the tick itself
        best = end.copy()
        for k in range(1, int(level.max()) + 1):
            half = 1 << (k - 1)
            a, b = table[: len(table) - half], table[half:]
            table = np.where(seg[b] > seg[a], b, a)  # runs of 2**k ticks
            chosen = level == k
            if chosen.any():
                left = table[start[chosen]]
                right = table[end[chosen] - (1 << k) + 1]
                best[chosen] = np.where(seg[right] > seg[left], right, left)
        out[lo:hi] = end - best


class _Anchors:
    """One coin's rolling highs for one window (as offsets back: 2 bytes a tick, see
    `window_backs`), the first tick with a full window (`ready`), and per block the
    lowest price/high (not ready: infinite)."""

    __slots__ = ("backs", "block_ratio", "ready")

    def __init__(self, coin: _Coin, window_ms: int) -> None:
        times = coin.ts
        starts = np.frombuffer(times.starts, dtype=times.starts.typecode)
        stamps = (starts.astype(np.int64) * times.unit)[:, None] + np.array(times.offsets)
        stamps = stamps.ravel()  # every tick's time, for this computation only
        price = np.frombuffer(coin.price, dtype=np.float64)
        # The widest offset back: every tick of a full window and a candle more.
        widest = 4 * (window_ms // coin.period_ms + 2)
        typecode = "H" if widest < 65536 else "I"
        self.backs = array(typecode, bytes(array(typecode).itemsize * len(price)))
        backs = np.frombuffer(self.backs, dtype=typecode)
        window_backs(stamps, price, window_ms, backs)
        self.ready = ready = int(np.searchsorted(stamps, stamps[0] + window_ms, side="left"))
        ratio = price / price[np.arange(len(price)) - backs]
        ratio[:ready] = _NOT_YET
        self.block_ratio = _block_extremes(ratio, _NOT_YET, "min")


class TrialData:
    """A data set loaded once, replayed with many settings (`replay`)."""

    def __init__(self, series: Sequence[Series]) -> None:
        given = list(series)
        self.span = series_span(given)
        candles = [s for s in given if isinstance(s, CandleSeries)]
        symbols = [s.symbol for s in candles]
        self.coins: list[_Coin] | None = None
        self._series: list[Series] | None = given
        if (
            len(candles) == len(given)
            and len(set(symbols)) == len(symbols)
            and all(len(s) for s in candles)
            and aligned_starts(candles) is not None
        ):
            self.coins = [_Coin(s) for s in candles]
            # The candles live on as the coins' ticks only (memory: a study of years of
            # many pairs), rebuilt exactly when a slow replay or Ray asks for them.
            self._series = None
        self._anchors: dict[int, list[_Anchors]] = {}

    def check_quote(self, quote: str) -> list[str]:
        """Every symbol, each checked to trade in `quote` (no candles rebuilt)."""
        return check_quote(self.coins if self.coins is not None else self.series, quote)

    @property
    def series(self) -> list[Series]:
        """The data as series (the candles rebuilt from the ticks on first use)."""
        if self._series is None:
            assert self.coins is not None
            self._series = [coin.candles() for coin in self.coins]
        return self._series

    @classmethod
    def load(cls, paths: Sequence[Path]) -> TrialData:
        """Read the files whole (a study replays them hundreds of times).

        Feather candle files that the fast path takes (one period, aligned starts, one
        file a coin) become coins one file at a time: the candles of every file are
        never all held at once (a study of years of many pairs).
        """
        streams = [open_candle_stream(path) for path in paths]
        if _one_coin_each(streams):
            data = cls([])
            coins = [_Coin(stream.load()) for stream in streams if stream is not None]
            data.coins, data._series = coins, None
            data.span = series_span(s for s in streams if s is not None)
            return data
        loaded: list[Series] = []
        for path, stream in zip(paths, streams, strict=True):
            loaded.append(stream.load() if stream is not None else read_file(path))
        return cls(loaded)

    @property
    def fast(self) -> bool:
        """Whether trials skip the ticks that cannot matter (see the module docstring)."""
        return self.coins is not None

    def anchors(self, window_ms: int) -> list[_Anchors]:
        """Every coin's rolling highs for `window_ms`, computed on first use."""
        found = self._anchors.get(window_ms)
        if found is None:
            assert self.coins is not None
            found = self._anchors[window_ms] = [_Anchors(c, window_ms) for c in self.coins]
        return found

    def replay(
        self,
        params: StrategyParams,
        *,
        quote: str,
        initial: Decimal,
        from_ms: int | None = None,
        to_ms: int | None = None,
    ) -> TrialRun:
        """What `run_replay(self.series, params, ...)` trades, trade for trade."""
        if self.coins is None or params.anchor not in _SKIPPING_MODES:
            result = run_replay(
                self.series, params, quote=quote, initial=initial, from_ms=from_ms, to_ms=to_ms
            )
            return TrialRun(result.trades, result.open_positions, result.ticks)
        self.check_quote(quote)
        return _Trial(self, params, quote, initial, from_ms, to_ms).run()


def _one_coin_each(streams: Sequence[CandleStream | None]) -> bool:
    """Whether streamed files make the fast path's coins, as `TrialData` would find from
    their candles: all feather, one period, every start on it, one file a symbol."""
    if not streams or any(s is None or not len(s) or not s.aligned for s in streams):
        return False
    known = [s for s in streams if s is not None]
    return len({s.period_ms for s in known}) == 1 and len({s.symbol for s in known}) == len(known)


class _Trial:
    """One fast replay (module docstring): the coins' next ticks that matter, in a heap."""

    def __init__(
        self,
        data: TrialData,
        params: StrategyParams,
        quote: str,
        initial: Decimal,
        from_ms: int | None,
        to_ms: int | None,
    ) -> None:
        assert data.coins is not None
        self.session = PaperSession(params, quote, initial)
        trader = self.session.trader
        window_ms = params.window_s * 1000
        self.coins = data.coins
        self.anchors = data.anchors(window_ms)
        # The skip bound, a hair above `reject_above` so that a float ratio above it
        # proves price > high × reject_above as the trader computes it.
        self.bound = trader.reject_above * (1 + 1e-12)
        self.books = []
        self.tables = []
        self.ends = []
        self.starts = []
        self.times: list[tuple[array[int], int, tuple[int, int, int, int]]] = []
        lo = -(2**62) if from_ms is None else from_ms
        hi = 2**62 if to_ms is None else to_ms
        for coin, anchors in zip(self.coins, self.anchors, strict=True):
            book = trader.book(coin.symbol)
            table = TableAnchor(params.anchor, window_ms, coin.price, anchors.backs, coin.ts[0])
            self.times.append((coin.ts.starts, coin.ts.unit, coin.ts.offsets))
            book.anchor = table
            self.books.append(book)
            self.tables.append(table)
            self.starts.append(bisect_left(coin.ts, lo))
            self.ends.append(bisect_right(coin.ts, hi))

    def next_tick(self, k: int, i: int) -> int:
        """The index of coin `k`'s next tick from `i` on that may change something."""
        book, end = self.books[k], self.ends[k]
        state = book.state
        if state in _WAITING:
            anchors = self.anchors[k]
            backs, blocks, bound = anchors.backs, anchors.block_ratio, self.bound
            price = self.coins[k].price
            if i < anchors.ready:  # the window is not full yet: no entry can be made
                i = anchors.ready
            while i < end:
                if i % BLOCK == 0 and blocks[i // BLOCK] > bound:
                    i += BLOCK
                elif price[i] > price[i - backs[i]] * bound:  # rejected, as price/high > bound was
                    i += 1
                else:
                    return i
            return end
        watch = book.watch
        if state is State.IN_POSITION and watch is not None:
            coin = self.coins[k]
            starts, unit, offs = self.times[k]
            o3 = offs[3]
            price, highs, lows = coin.price, coin.high, coin.low
            quiet = watch.quiet
            while i < end:
                last = i + BLOCK - 1
                if i % BLOCK == 0 and last < end:
                    b = i // BLOCK
                    # The block's last tick is a candle's close (BLOCK is a multiple of 4).
                    if quiet(highs[b], lows[b], starts[last >> 2] * unit + o3):
                        i += BLOCK
                        continue
                p = price[i]
                if not quiet(p, p, starts[i >> 2] * unit + offs[i & 3]):
                    return i
                i += 1
            return end
        return i  # anything else: every tick

    def _wake(
        self, heap: list[tuple[int, int, int]], parked: list[tuple[int, int]], ts: int, k0: int
    ) -> None:
        """An order of coin `k0` at `ts` was executed: every parked coin goes back to the
        heap at its first tick after that one in the replay's order (time, then coin)."""
        for k, i in parked:
            times = self.coins[k].ts
            i = (bisect_left if k > k0 else bisect_right)(times, ts, i)
            i = self.next_tick(k, i)
            if i < self.ends[k]:
                heapq.heappush(heap, (times[i], k, i))
        parked.clear()

    def run(self) -> TrialRun:
        session = self.session
        on_tick, execute = session.trader.on_tick, session.execute
        coins, times, ends = self.coins, self.times, self.ends
        heap: list[tuple[int, int, int]] = []
        for k, coin in enumerate(coins):
            i = self.next_tick(k, self.starts[k])
            if i < ends[k]:
                heap.append((coin.ts[i], k, i))
        heapq.heapify(heap)
        # Idle coins whose entry was just refused for a reason only an executed order
        # lifts (`core.signals.ORDER_LIFTED`), with their next tick: each of their ticks
        # until then would be refused (or rejected sooner), changing nothing, so they
        # wait here instead of in the heap.
        parked: list[tuple[int, int]] = []
        signals = session.trader.signals
        fed = 0
        while heap:
            ts, k, i = heap[0]
            coin = coins[k]
            self.tables[k].at = i
            refusals = signals.order_refusals
            intent = on_tick(ts, coin.symbol, coin.price[i])
            fed += 1
            if intent is not None:
                execute(intent)
                if parked:
                    self._wake(heap, parked, ts, k)
            elif signals.order_refusals != refusals:  # refused, so idle still
                heapq.heappop(heap)
                parked.append((k, i + 1))
                continue
            i = self.next_tick(k, i + 1)
            if i < ends[k]:
                starts, unit, offs = times[k]
                heapq.heapreplace(heap, (starts[i >> 2] * unit + offs[i & 3], k, i))
            else:
                heapq.heappop(heap)
        for k, book in enumerate(self.books):
            # A held coin's last ticks may have been passed over as quiet: its last price,
            # as the open positions report it.
            last = self.ends[k] - 1
            if last >= self.starts[k]:
                book.last_price, book.last_ts = self.coins[k].price[last], self.coins[k].ts[last]
        session.ledger.check()
        return TrialRun(session.trades, session.open_positions(), fed)
