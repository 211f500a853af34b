"""Anchors: rolling high window, warm-up, session open, last exit, hybrid."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tradebot_tui.core.anchors import DAY_MS, AnchorMode, AnchorTracker
from tradebot_tui.core.ticks import candle_to_ticks

H = 3_600_000


def rolling_high(window_ms: int, *ticks: tuple[int, float]) -> list[float | None]:
    a = AnchorTracker(AnchorMode.ROLLING_HIGH, window_ms)
    out = []
    for ts, price in ticks:
        a.update(ts, price)
        out.append(a.rolling_high)
    return out


def test_rolling_max_window_is_half_open() -> None:
    highs = rolling_high(1000, (0, 5.0), (500, 3.0), (999, 4.0), (1000, 1.0), (1999, 0.5))
    # At t=1000 the tick at 0 is out: the window is (0, 1000].
    assert highs == [5.0, 5.0, 5.0, 4.0, 1.0]


def test_rolling_max_keeps_equal_prices_latest() -> None:
    # The tick at 50 is still in (20, 120].
    assert rolling_high(100, (0, 2.0), (50, 2.0), (120, 1.0))[-1] == 2.0


def test_no_anchor_until_first_tick_is_window_old() -> None:
    a = AnchorTracker(AnchorMode.ROLLING_HIGH, H)
    assert a.update(0, 100.0) is None
    assert a.update(H - 1, 100.0) is None
    assert a.update(H, 90.0) == 100.0


def test_rolling_high_anchor_values() -> None:
    a = AnchorTracker(AnchorMode.ROLLING_HIGH, H)
    a.update(0, 100.0)
    a.update(10, 110.0)
    assert a.update(H, 105.0) == 110.0
    # The 110 tick at ts 10 leaves the window at ts H + 10.
    assert a.update(H + 10, 104.0) == 105.0


def test_session_open_resets_at_midnight_utc() -> None:
    a = AnchorTracker(AnchorMode.SESSION_OPEN, H)
    day = 20_000 * DAY_MS
    assert a.update(day - 1, 50.0) == 50.0
    assert a.update(day, 60.0) == 60.0
    assert a.update(day + 5 * H, 40.0) == 60.0
    assert a.update(day + DAY_MS + 3, 45.0) == 45.0


def test_last_exit_before_any_exit_is_rolling_high() -> None:
    a = AnchorTracker(AnchorMode.LAST_EXIT, H)
    a.update(0, 100.0)
    a.update(1, 100.0)  # the tick at 0 is outside (0, H] at t = H; this one is inside
    assert a.update(H, 95.0) == 100.0
    a.record_exit(H, 95.0)
    assert a.update(H + 1, 120.0) == 95.0
    assert a.update(10 * H, 120.0) == 95.0


def test_hybrid_uses_lower_of_high_and_recent_exit() -> None:
    a = AnchorTracker(AnchorMode.HYBRID, H)
    a.update(0, 100.0)
    a.update(H, 101.0)
    a.record_exit(H, 99.0)
    assert a.update(H + 1, 100.0) == 99.0
    # Once the exit is a window old, the rolling high alone is the anchor.
    assert a.update(2 * H, 100.0) == 100.0


def test_hybrid_exit_above_high_changes_nothing() -> None:
    a = AnchorTracker(AnchorMode.HYBRID, H)
    a.update(0, 100.0)
    a.update(H, 98.0)
    a.record_exit(H, 103.0)
    assert a.update(H + 1, 97.0) == 98.0


candles = st.lists(
    st.tuples(
        st.sampled_from([60_000, 120_000, 180_000]),  # gaps between starts
        *(st.sampled_from([1.0, 2.0, 3.0, 4.0]) for _ in range(4)),  # o, h, l, c (ties)
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(candles, st.integers(0, 39), st.sampled_from([60_000, 90_000, 600_000]))
# An older candle whose open alone is above the newer one's prices (bad data): kept.
@example([(60_000, 4.0, 2.0, 1.0, 2.0), (60_000, 3.0, 3.0, 3.0, 3.0)], 0, 600_000)
def test_a_window_refilled_from_candles_is_the_one_every_tick_built(
    rows: list[tuple[int, float, float, float, float]], cut: int, window: int
) -> None:
    """`refill` from candles `lo` on (read newest first, candles passed over whole)
    leaves the deque that `update` leaves after each of their ticks; the next update
    then gives the same anchor. Prices tie often (the later tick stays)."""
    starts, opens, highs, lows, closes, t = [], [], [], [], [], 0
    for gap, o, a, b, c in rows:  # o and c not always inside [low, high]: bad data too
        t += gap
        starts.append(t)
        opens.append(o)
        highs.append(max(a, b))
        lows.append(min(a, b))
        closes.append(c)
    lo = min(cut, len(rows) - 1)
    fed = AnchorTracker(AnchorMode.ROLLING_HIGH, window)
    for r in range(lo, len(rows)):
        for ts, price in candle_to_ticks(starts[r], 60_000, opens[r], highs[r], lows[r], closes[r]):
            fed.update(ts, price)
    refilled = AnchorTracker(AnchorMode.ROLLING_HIGH, window)
    refilled.refill(starts, opens, highs, lows, closes, lo, len(rows), 60_000)
    assert list(refilled._prices) == list(fed._prices)
    assert list(refilled._stamps) == list(fed._stamps)
    # A refill restores the window only; the warm-up is the tracker's own (set earlier).
    refilled.first_ts, refilled.ready_ts = fed.first_ts, fed.ready_ts
    nxt = starts[-1] + 60_000
    assert refilled.update(nxt, 2.5) == fed.update(nxt, 2.5)


@settings(max_examples=200, deadline=None)
@given(candles, st.sampled_from([60_000, 90_000, 600_000]))
def test_a_candle_taken_at_once_leaves_the_window_four_updates_leave(
    rows: list[tuple[int, float, float, float, float]], window: int
) -> None:
    """`take_candle` (a quiet candle, a held coin's) pushes only the ticks above every
    later one of the candle: the deque equals the one its four `update`s leave, ties
    included (the later tick stays)."""
    fed = AnchorTracker(AnchorMode.ROLLING_HIGH, window)
    taken = AnchorTracker(AnchorMode.ROLLING_HIGH, window)
    t = 0
    for gap, o, a, b, c in rows:
        t += gap
        ticks = candle_to_ticks(t, 60_000, o, max(a, b), min(a, b), c)
        for ts, price in ticks:
            fed.update(ts, price)
        taken.take_candle(t, 60_000, o, ticks[1][1], ticks[2][1], c)
        assert list(taken._prices) == list(fed._prices)
        assert list(taken._stamps) == list(fed._stamps)
