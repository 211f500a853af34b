"""Anchors: the price a drop is measured from (docs/architecture.md, "Reference semantics")."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from enum import StrEnum

DAY_MS = 86_400_000


class AnchorMode(StrEnum):
    """How the anchor of a symbol is chosen (setting `strategy.anchor`)."""

    ROLLING_HIGH = "rolling_high"
    SESSION_OPEN = "session_open"
    LAST_EXIT = "last_exit"
    HYBRID = "hybrid"


class AnchorTracker:
    """Per-symbol anchor state for one anchor mode.

    `update` must see every tick of the symbol, in time order, whether or not the bot is in
    a position: the rolling window is defined over all ticks. The rolling high is a
    monotonic deque (prices strictly decreasing from front to back, so the front is the
    maximum of the window), O(1) amortized per tick and bounded by the ticks in the window.
    It is the hottest function of a replay, kept inline rather than in a helper class.
    """

    __slots__ = (
        "_prices",
        "_stamps",
        "first_ts",
        "last_exit_price",
        "last_exit_ts",
        "mode",
        "ready_ts",
        "session_day",
        "session_open",
        "window_ms",
    )

    def __init__(self, mode: AnchorMode, window_ms: int) -> None:
        self.mode = mode
        self.window_ms = window_ms
        self._stamps: deque[int] = deque()
        self._prices: deque[float] = deque()
        self.first_ts: int | None = None
        # first_ts + window once the first tick is seen: the rolling anchors exist from then.
        self.ready_ts = _NOT_YET
        self.session_day = -1
        self.session_open = 0.0
        self.last_exit_price: float | None = None
        self.last_exit_ts: int | None = None

    def warm_until(self) -> int | None:
        """Timestamp from which entries are allowed, or None before the first tick."""
        if self.first_ts is None:
            return None
        return self.first_ts + self.window_ms

    @property
    def rolling_high(self) -> float | None:
        return self._prices[0] if self._prices else None

    def update(self, ts_ms: int, price: float) -> float | None:
        """Feed one tick; return the anchor at this tick, or None while warming up."""
        prices = self._prices
        stamps = self._stamps
        while prices and prices[-1] <= price:
            prices.pop()
            stamps.pop()
        prices.append(price)
        stamps.append(ts_ms)
        horizon = ts_ms - self.window_ms
        while stamps[0] <= horizon:
            stamps.popleft()
            prices.popleft()
        if self.mode is _HYBRID:
            # `_choose`'s first branch, inline: the default mode, on every tick of a replay
            # (a call here costs 8 % of one).
            if ts_ms < self.ready_ts and self._warming(ts_ms):
                return None
            exit_ts = self.last_exit_ts
            if exit_ts is not None and exit_ts > horizon:
                exit_price = self.last_exit_price
                assert exit_price is not None
                return exit_price if exit_price < prices[0] else prices[0]
            return prices[0]
        return self._choose(ts_ms, price, prices[0], horizon)

    def _choose(self, ts_ms: int, price: float, high: float, horizon: int) -> float | None:
        """The anchor of this mode at this tick, given the rolling high of the window."""
        mode = self.mode
        if mode is _HYBRID:
            if ts_ms < self.ready_ts and self._warming(ts_ms):
                return None
            exit_ts = self.last_exit_ts
            if exit_ts is not None and exit_ts > horizon:
                exit_price = self.last_exit_price
                assert exit_price is not None
                return exit_price if exit_price < high else high
            return high
        warming = self._warming(ts_ms) if ts_ms < self.ready_ts else False
        if mode is _SESSION_OPEN:
            day = ts_ms // DAY_MS
            if day != self.session_day:
                self.session_day = day
                self.session_open = price
            return self.session_open
        if mode is _LAST_EXIT and self.last_exit_price is not None:
            return self.last_exit_price
        return None if warming else high

    def quiet_candle(
        self, t: int, period: int, o: float, first: float, second: float, c: float, bar: float
    ) -> bool:
        """One candle's four ticks (`core.ticks.candle_to_ticks`: o, the two extremes in
        that order, c), taken at once when no tick can be priced at or below its anchor ×
        `bar`: then the window takes them as four `update`s would, and True. Else
        nothing changes, False, and the caller feeds the four ticks one by one.

        An upper bound of every anchor of the four ticks is enough to tell: each window
        holds only ticks of the last update's window and of this candle. The session-open
        mode (every tick counts) and a last exit priced above that bound are never quiet.
        """
        prices = self._prices
        top = first if first > second else second
        if o > top:
            top = o
        if c > top:
            top = c
        bound = prices[0] if prices and prices[0] > top else top
        if not self._may_skip(bound):
            return False
        end = t + period - 1
        if self.first_ts is None:
            self.first_ts = t
            self.ready_ts = t + self.window_ms
        if end >= self.ready_ts:
            low = first if first < second else second
            if o < low:
                low = o
            if c < low:
                low = c
            if low <= bound * bar:
                return False
        self.take_candle(t, period, o, first, second, c)
        return True

    def take_candle(
        self, t: int, period: int, o: float, first: float, second: float, c: float
    ) -> None:
        """One candle's four ticks into the window at once, as four `update`s would leave
        it, for ticks whose anchors nobody reads (a quiet candle, a held coin's)."""
        end = t + period - 1
        if self.first_ts is None:
            self.first_ts = t
            self.ready_ts = t + self.window_ms
        # Only the ticks above every later one stay in the window; each is below the one
        # before, so only the first one pushed can pop older ticks.
        prices, stamps = self._prices, self._stamps
        later = second if second > c else c  # the highest after the first extreme
        top = first if first > later else later  # the highest after the open
        lead = o if o > top else top
        while prices and prices[-1] <= lead:
            prices.pop()
            stamps.pop()
        if o > top:
            prices.append(o)
            stamps.append(t)
        if first > later:
            prices.append(first)
            stamps.append(t + period // 4)
        if second > c:
            prices.append(second)
            stamps.append(t + period // 2)
        prices.append(c)
        stamps.append(end)
        self._expire(end)

    def quiet_span(self, start: int, end: int, low: float, high: float, bar: float) -> bool:
        """Ticks from `start` to `end` (this symbol's next ones) priced `low` at the
        lowest, whose windows hold no price above `high`: True when none of them can be
        priced at or below its anchor × `bar` (the rule of `quiet_candle`). Then the
        window is not told them: the caller `refill`s it before the next `update`.
        """
        if not self._may_skip(high):
            return False
        if self.first_ts is None:
            self.first_ts = start
            self.ready_ts = start + self.window_ms
        return end < self.ready_ts or low > high * bar

    @property
    def refillable(self) -> bool:
        """Whether ticks may be left out, whatever their prices, and the window `refill`ed
        before the next `update`: not with the session open (its anchor is a session's
        first tick, which a refill does not see)."""
        return self.mode is not _SESSION_OPEN

    def _may_skip(self, high: float) -> bool:
        """Whether every anchor is at most `high` when every rolling high is: not with
        the session open (every tick counts), nor a last exit priced above it."""
        mode = self.mode
        if mode is _SESSION_OPEN:
            return False
        exit_price = self.last_exit_price
        return not (mode is _LAST_EXIT and exit_price is not None and exit_price > high)

    def refill(
        self,
        starts: Sequence[int],
        opens: Sequence[float],
        highs: Sequence[float],
        lows: Sequence[float],
        closes: Sequence[float],
        lo: int,
        hi: int,
        period_ms: int,
    ) -> None:
        """The window as after the ticks (`candle_to_ticks`) of candles `lo` to `hi - 1`,
        which must hold every tick of the window of the next `update`: the rolling state
        after a `quiet_span`.

        `update` keeps a tick only while no later one is priced at or above it, so the
        window is read from its newest candle back: a tick stays when priced above every
        later one, and a candle with no price above those is passed over whole.
        """
        prices, stamps = self._prices, self._stamps
        prices.clear()
        stamps.clear()
        if hi <= lo:
            return
        quarter, half, end = period_ms // 4, period_ms // 2, period_ms - 1
        top = float("-inf")
        kept: list[tuple[int, float]] = []
        for r in range(hi - 1, lo - 1, -1):
            o, h, low, c = opens[r], highs[r], lows[r], closes[r]
            if h <= top and o <= top and c <= top and low <= top:
                continue
            t = starts[r]
            first, second = (h, low) if h - o <= o - low else (low, h)
            for ts, price in ((t + end, c), (t + half, second), (t + quarter, first), (t, o)):
                if price > top:
                    top = price
                    kept.append((ts, price))
        for ts, price in reversed(kept):
            prices.append(price)
            stamps.append(ts)
        self._expire(starts[hi - 1] + end)

    def _push(self, ts_ms: int, price: float) -> None:
        """`update`'s push (kept inline there, the hottest line of a replay)."""
        prices, stamps = self._prices, self._stamps
        while prices and prices[-1] <= price:
            prices.pop()
            stamps.pop()
        prices.append(price)
        stamps.append(ts_ms)

    def _expire(self, ts_ms: int) -> None:
        """Drop what is out of the window ending at `ts_ms` (something was just pushed)."""
        prices, stamps = self._prices, self._stamps
        horizon = ts_ms - self.window_ms
        while stamps[0] <= horizon:
            stamps.popleft()
            prices.popleft()

    def _warming(self, ts_ms: int) -> bool:
        """Before `ready_ts`: note the first tick; True while the window is not yet full."""
        if self.first_ts is None:
            self.first_ts = ts_ms
            self.ready_ts = ts_ms + self.window_ms
        return ts_ms < self.ready_ts

    def record_exit(self, ts_ms: int, price: float) -> None:
        """Remember an exit for the `last_exit` and `hybrid` modes."""
        self.last_exit_ts = ts_ms
        self.last_exit_price = price


class TableAnchor(AnchorTracker):
    """An anchor whose rolling highs were computed beforehand (`tune.trials.window_backs`), for
    runs that replay the same ticks many times with other settings (`tune`).

    The rolling high at tick `i` is `prices[i - backs[i]]` (an offset, not the price: two
    bytes a tick instead of eight, for studies of years of many pairs). The caller sets
    `at` to the tick's index in the table before each `update`; ticks may be skipped
    (those whose `update` result would not matter), as long as the session-open mode, the
    one that needs every tick, is not used. Everything else is the tracker's.
    """

    __slots__ = ("at", "backs", "prices")

    def __init__(
        self,
        mode: AnchorMode,
        window_ms: int,
        prices: Sequence[float],
        backs: Sequence[int],
        first_ts: int,
    ) -> None:
        super().__init__(mode, window_ms)
        self.prices = prices
        self.backs = backs
        self.at = 0
        # The symbol's first tick: a replay from any date warms up as from the start.
        self.first_ts = first_ts
        self.ready_ts = first_ts + window_ms

    @property
    def rolling_high(self) -> float | None:
        at = self.at
        return self.prices[at - self.backs[at]]

    def update(self, ts_ms: int, price: float) -> float | None:
        at = self.at
        high = self.prices[at - self.backs[at]]
        return self._choose(ts_ms, price, high, ts_ms - self.window_ms)

    def quiet_candle(
        self, t: int, period: int, o: float, first: float, second: float, c: float, bar: float
    ) -> bool:
        return False  # the table has no window to take a candle into

    def quiet_span(self, start: int, end: int, low: float, high: float, bar: float) -> bool:
        return False


_NOT_YET = 2**62
_HYBRID = AnchorMode.HYBRID
_SESSION_OPEN = AnchorMode.SESSION_OPEN
_LAST_EXIT = AnchorMode.LAST_EXIT
