"""Trials (what `tune` runs): the same trades as `run_replay`, trade for trade."""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.replay.test_replay_shared import OHLCV
from tradebot_tui.core.anchors import AnchorMode, AnchorTracker, TableAnchor
from tradebot_tui.core.exits import ExitParams, ExitWatch
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.data.series import CandleSeries, Series
from tradebot_tui.data.trades_csv import trades_csv
from tradebot_tui.replay.runner import run_replay
from tradebot_tui.tune import trials
from tradebot_tui.tune.trials import TrialData

MONTH = OHLCV / "binance_spot_1m_2026-03_5pairs"


def walk_series(coins: int, minutes: int, seed: int) -> list[Series]:
    """Random walks with sharp drops now and then: entries, every exit rule, cooldowns."""
    rng = random.Random(seed)
    out: list[Series] = []
    for n in range(coins):
        s = CandleSeries(Path(f"C{n}_USDT-1m.feather"), f"C{n}/USDT", 60_000)
        price = 50.0 + 10 * n
        for i in range(minutes):
            o = price
            c = o * (1 + rng.gauss(0, 0.004) - (0.03 if rng.random() < 0.01 else 0.0))
            s.ts.append(i * 60_000)
            s.open.append(o)
            s.high.append(max(o, c) * (1 + abs(rng.gauss(0, 0.002))))
            s.low.append(min(o, c) * (1 - abs(rng.gauss(0, 0.002))))
            s.close.append(c)
            price = c
        out.append(s)
    return out


def random_params(rng: random.Random) -> StrategyParams:
    return StrategyParams(
        anchor=rng.choice([AnchorMode.HYBRID, AnchorMode.ROLLING_HIGH]),
        window_s=rng.choice([600, 3600]),
        trigger_pct=rng.uniform(0.5, 4),
        max_positions=rng.choice([1, 2, 5]),
        cooldown_s=rng.choice([0, 300, 900]),
        stake=Decimal(rng.choice([100, 300])),
        exits=ExitParams(
            take_profit_pct=rng.uniform(0.3, 4),
            stop_loss_pct=rng.uniform(0.5, 6),
            trailing_activation_pct=rng.uniform(0.2, 3),
            trailing_distance_pct=rng.uniform(0.1, 2),
            max_hold_ms=rng.choice([10, 60, 240]) * 60_000,
        ),
        daily_loss_limit_pct=rng.choice([0.0, 1.0]),
        max_drawdown_pct=rng.choice([0.0, 2.0]),
    )


def assert_same_as_replay(
    data: TrialData, params: StrategyParams, from_ms: int | None, to_ms: int | None
) -> int:
    kwargs = {"quote": "USDT", "initial": Decimal(1000), "from_ms": from_ms, "to_ms": to_ms}
    trial = data.replay(params, **kwargs)  # type: ignore[arg-type]
    full = run_replay(data.series, params, **kwargs)  # type: ignore[arg-type]
    assert trades_csv(trial.trades) == trades_csv(full.trades), params
    assert [t.fees for t in trial.trades] == [t.fees for t in full.trades]
    assert trial.open_positions == full.open_positions
    return len(trial.trades)


def test_trials_equal_replays_on_generated_data() -> None:
    data = TrialData(walk_series(4, 3000, seed=5))
    assert data.fast
    rng = random.Random(11)
    trades = 0
    for _ in range(25):
        from_ms = rng.choice([None, 600 * 60_000, 1234 * 60_000 + 7])
        to_ms = rng.choice([None, 2500 * 60_000, 2999 * 60_000 + 59_999])
        trades += assert_same_as_replay(data, random_params(rng), from_ms, to_ms)
    assert trades > 100  # the sample trades a lot: entries, exits, gates all exercised


@pytest.mark.parametrize(
    ("max_positions", "stake"),
    [(1, 100), (2, 100), (5, 300)],  # the position count refuses, or the budget does
)
def test_coins_refused_an_entry_wait_aside_and_trade_as_replay_does(
    max_positions: int, stake: int
) -> None:
    """Idle coins refused for the position count or the budget leave the heap until an
    order is executed, then come back at their first tick after it (same time: after
    the coin that traded when later in the input, else the next time)."""
    data = TrialData(walk_series(8, 2000, seed=21))
    params = StrategyParams(
        window_s=600,
        trigger_pct=1.0,
        max_positions=max_positions,
        cooldown_s=300,
        stake=Decimal(stake),
        exits=ExitParams(take_profit_pct=1.0, stop_loss_pct=2.0, max_hold_ms=30 * 60_000),
    )
    woken: list[int] = []
    real = trials._Trial._wake

    def counted(self: trials._Trial, heap: list, parked: list, ts: int, k0: int) -> None:
        woken.append(len(parked))
        real(self, heap, parked, ts, k0)

    with patch.object(trials._Trial, "_wake", counted):
        trades = assert_same_as_replay(data, params, None, None)
    assert trades >= 20 and len(woken) >= 10 and sum(woken) >= 30


def _candles(symbol: str, rows: list[tuple[float, float, float, float]]) -> CandleSeries:
    s = CandleSeries(Path(f"{symbol}_USDT-1m.feather"), f"{symbol}/USDT", 60_000)
    for minute, (o, h, lo, c) in enumerate(rows):
        s.ts.append(minute * 60_000)
        s.open.append(o)
        s.high.append(h)
        s.low.append(lo)
        s.close.append(c)
    return s


def test_coins_waiting_aside_across_midnight_keep_the_daily_loss_limit() -> None:
    """A's position is open across midnight; B, refused for the position count, dips
    below its trigger every minute and waits aside. The day counts from the equity
    before A's loss whether B's refusal or A's sale starts it, so the loss (0.6 %, limit
    0.5 %) keeps B out for the rest of the day, as in `replay`; without the limit, B
    buys once A is sold."""
    flat, dip = (100.0, 100.0, 100.0, 100.0), (100.0, 100.0, 98.5, 100.0)
    a = [flat] * 1430 + [(100.0, 100.0, 98.5, 98.5)] + [(98.5,) * 4] * 19
    a += [(98.5, 98.5, 96.5, 96.5)] + [(96.5,) * 4] * 50
    b = [flat] * 1432 + [dip] * 68
    data = TrialData([_candles("A", a), _candles("B", b)])
    params = StrategyParams(
        window_s=600,
        trigger_pct=1.0,
        max_positions=1,
        cooldown_s=7_200,
        stake=Decimal(300),
        daily_loss_limit_pct=0.5,
        exits=ExitParams(take_profit_pct=5.0, stop_loss_pct=2.0, max_hold_ms=10 * 3_600_000),
    )
    assert assert_same_as_replay(data, params, None, None) == 1  # A's stop-loss alone
    # Without the limit, B buys once A is sold: the same data, another outcome.
    unlimited = dataclasses.replace(params, daily_loss_limit_pct=0.0)
    assert assert_same_as_replay(data, unlimited, None, None) == 2
    trades = data.replay(unlimited, quote="USDT", initial=Decimal(1000)).trades
    assert [t.symbol for t in trades] == ["A/USDT", "B/USDT"]


@pytest.mark.skipif(not MONTH.is_dir(), reason=f"shared data not found at {MONTH}")
def test_trials_equal_replays_on_the_shared_month() -> None:
    data = TrialData.load(sorted(MONTH.glob("*.feather")))
    assert data.fast
    rng = random.Random(3)
    for _ in range(6):
        from_ms = rng.choice([None, 1774900000000])
        assert_same_as_replay(data, random_params(rng), from_ms, None)


def test_other_inputs_fall_back_to_the_replay_itself() -> None:
    series = walk_series(2, 400, seed=2)
    series.append(series[0])  # one coin twice: not the fast path
    data = TrialData(series)
    assert not data.fast
    params = StrategyParams(window_s=600, trigger_pct=1.0)
    assert_same_as_replay(data, params, None, None)
    # session_open needs every tick: the fast data set runs the replay for it.
    fast = TrialData(walk_series(2, 400, seed=2))
    assert_same_as_replay(fast, StrategyParams(anchor=AnchorMode.SESSION_OPEN), None, None)


# Gaps that land ticks exactly on a window's edge, and prices that tie.
ticks = st.lists(
    st.tuples(
        st.one_of(st.sampled_from([1, 15_000, 30_000, 60_000]), st.integers(1, 90_000)),
        st.one_of(st.sampled_from([1.0, 2.0, 3.0]), st.floats(1, 100, allow_nan=False)),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=80, deadline=None)
@given(ticks, st.sampled_from([1, 60_000, 300_000]), st.sampled_from([1, 3, 1 << 17]))
def test_rolling_highs_are_the_trackers(
    steps: list[tuple[int, float]], window: int, chunk: int
) -> None:
    stamps, prices, ts = [], [], 0
    for gap, price in steps:
        ts += gap
        stamps.append(ts)
        prices.append(price)
    backs = np.zeros(len(prices), dtype=np.uint32)
    with patch.object(trials, "_CHUNK", chunk):  # tables built a few ticks at a time too
        trials.window_backs(np.array(stamps), np.array(prices), window, backs)
    tracker = AnchorTracker(AnchorMode.HYBRID, window)
    table = TableAnchor(AnchorMode.HYBRID, window, prices, backs.tolist(), stamps[0])
    for i, (t, p) in enumerate(zip(stamps, prices, strict=True)):
        if i == len(stamps) // 2:  # an exit in the middle: the hybrid anchor uses it
            tracker.record_exit(t - 1, p * 0.99)
            table.record_exit(t - 1, p * 0.99)
        expected = tracker.update(t, p)
        assert 0 <= backs[i] <= i
        assert stamps[i - backs[i]] > t - window  # inside the window
        assert prices[i - backs[i]] == tracker.rolling_high
        table.at = i
        assert table.rolling_high == tracker.rolling_high
        assert table.update(t, p) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(90, 110, allow_nan=False), min_size=1, max_size=40),
    st.booleans(),
    st.integers(0, 60),
)
def test_a_quiet_stretch_never_hides_an_exit(prices: list[float], armed: bool, hold: int) -> None:
    params = ExitParams(
        take_profit_pct=5,
        stop_loss_pct=5,
        trailing_activation_pct=2,
        trailing_distance_pct=3,
        max_hold_ms=hold * 1000,
    )
    quick = ExitWatch(params, 100.0, 0)
    slow = ExitWatch(params, 100.0, 0)
    if armed:
        quick.armed = slow.armed = True
    stamps = [1000 * (i + 1) for i in range(len(prices))]
    if quick.quiet(max(prices), min(prices), stamps[-1]):
        assert all(slow.check(t, p) is None for t, p in zip(stamps, prices, strict=True))
        assert (quick.peak, quick.armed) == (slow.peak, slow.armed)


def test_feather_files_become_coins_one_at_a_time_and_the_candles_come_back_exactly(
    tmp_path: Path,
) -> None:
    """Loaded file by file (never all candles at once), the coins are those of the whole
    series; the candles rebuilt from the ticks are the files' own, value for value."""
    from tradebot_tui.data.feather import read_feather
    from tradebot_tui.data.history import Candles, write_history

    paths = []
    for s in walk_series(3, 1500, seed=9):
        assert isinstance(s, CandleSeries)
        candles = Candles()
        for t, o, h, lo, c in zip(s.ts, s.open, s.high, s.low, s.close, strict=True):
            candles.append(t, o, h, lo, c, 1.0)
        path = tmp_path / s.path.name
        write_history(path, candles)
        paths.append(path)
    loaded = TrialData.load(paths)
    originals = [read_feather(p, f"{p.name[:2]}/USDT", 60_000) for p in paths]
    whole = TrialData(originals)
    assert loaded.fast and whole.fast and loaded.span == whole.span
    assert loaded.coins is not None and whole.coins is not None
    for a, b in zip(loaded.coins, whole.coins, strict=True):
        assert (a.symbol, a.ts, a.price, a.high, a.low) == (b.symbol, b.ts, b.price, b.high, b.low)
    for rebuilt, original in zip(loaded.series, originals, strict=True):
        assert isinstance(rebuilt, CandleSeries) and isinstance(original, CandleSeries)
        for column in ("ts", "open", "high", "low", "close"):
            assert list(getattr(rebuilt, column)) == list(getattr(original, column)), column
    rng = random.Random(4)
    assert sum(assert_same_as_replay(loaded, random_params(rng), None, None) for _ in range(5)) > 0
