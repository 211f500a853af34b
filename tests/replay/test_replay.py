"""Replay: hand-checked trades, merging, --from/--to warm-up, and byte-identical output."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import OLDEST_HIGH_ENTRY_MS, oldest_high_candles
from tradebot_tui.core import signals as core_signals
from tradebot_tui.core.anchors import AnchorMode, AnchorTracker
from tradebot_tui.core.exits import ExitParams, ExitWatch
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.signals import Signals
from tradebot_tui.data.files import read_file
from tradebot_tui.data.series import CandleSeries, Series, TickSeries
from tradebot_tui.data.trades_csv import trades_csv
from tradebot_tui.replay.runner import ReplayError, ReplayResult, run_replay

PARAMS = StrategyParams(window_s=60, cooldown_s=900)
HEADER = "symbol,entry_ts_ms,entry_price,exit_ts_ms,exit_price,qty,exit_reason,pnl_quote"


def tick_file(path: Path, rows: list[tuple[int, str, float]]) -> Path:
    path.write_text(
        "ts_ms,symbol,price\n" + "".join(f"{ts},{sym},{price}\n" for ts, sym, price in rows)
    )
    return path


def replay(
    series: list[Series], params: StrategyParams = PARAMS, **kwargs: int | bool | None
) -> ReplayResult:
    return run_replay(series, params, quote="USDT", initial=Decimal(1000), **kwargs)  # type: ignore[arg-type]


def test_one_hand_checked_round_trip(tmp_path: Path) -> None:
    path = tick_file(
        tmp_path / "t.csv",
        [
            (0, "BTC/USDT", 100.0),
            (10_000, "BTC/USDT", 90.0),  # a 10 % drop while warming up: no trade
            (30_000, "BTC/USDT", 100.0),
            (60_000, "BTC/USDT", 97.0),  # anchor max(90, 100, 97) = 100: drop 3 % -> entry
            (75_000, "BTC/USDT", 98.0),  # below take-profit 97 * 1.015 = 98.455
            (90_000, "BTC/USDT", 98.5),  # take-profit
            (100_000, "BTC/USDT", 90.0),  # cooldown: no entry
        ],
    )
    result = replay([read_file(path)])
    # qty = floor(100 / 97, 1e-8) = 1.03092783; cost = 99.99999951; fee 0.09999999951
    # proceeds = 1.03092783 * 98.5 = 101.546391255; fee 0.101546391255
    # pnl = 101.546391255 - 0.101546391255 - 99.99999951 - 0.09999999951 = 1.344845354235
    assert trades_csv(result.trades) == (
        f"{HEADER}\nBTC/USDT,60000,97,90000,98.5,1.03092783,take_profit,1.344845354235\n"
    )
    assert result.ticks == 7
    assert result.stats.trades == result.stats.wins == 1
    assert result.stats.max_drawdown == 0
    assert result.open_positions == []
    assert result.ledger is not None
    assert result.ledger.free == Decimal(1000) + Decimal("1.344845354235")


def test_each_exit_reason_and_drawdown(tmp_path: Path) -> None:
    exits = ExitParams(
        take_profit_pct=5,
        stop_loss_pct=3,
        trailing_activation_pct=1,
        trailing_distance_pct=0.5,
        max_hold_ms=120_000,
    )
    params = StrategyParams(window_s=60, cooldown_s=0, max_positions=4, exits=exits)
    rows: list[tuple[int, str, float]] = []
    for sym in ("AAA/USDT", "BBB/USDT", "CCC/USDT", "DDD/USDT"):
        rows += [(0, sym, 100.0), (30_000, sym, 100.0), (60_000, sym, 97.0)]  # enter at 97
    rows += [
        (70_000, "AAA/USDT", 94.0),  # <= 97 * 0.97 = 94.09: stop-loss
        (70_000, "BBB/USDT", 102.0),  # >= 97 * 1.05 = 101.85: take-profit
        (70_000, "CCC/USDT", 98.0),  # >= 97.97 arms the trail; peak 98
        (80_000, "CCC/USDT", 97.5),  # <= 98 * 0.995 = 97.51: trailing stop
        (180_000, "DDD/USDT", 97.2),  # held 120 s: max hold
    ]
    rows.sort(key=lambda r: r[0])
    result = replay([read_file(tick_file(tmp_path / "t.csv", rows))], params)
    reasons = [(t.symbol, t.exit_reason.value) for t in result.trades]
    assert reasons == [
        ("AAA/USDT", "stop_loss"),
        ("BBB/USDT", "take_profit"),
        ("CCC/USDT", "trailing_stop"),
        ("DDD/USDT", "max_hold"),
    ]
    assert result.stats.wins == 3
    loss = -result.trades[0].pnl
    assert result.stats.max_drawdown == loss  # the first trade lost; nothing fell further
    assert result.stats.reasons[result.trades[0].exit_reason] == 1


def test_files_merge_in_time_order_with_ties_in_input_order(tmp_path: Path) -> None:
    a = tick_file(
        tmp_path / "a.csv",
        [(0, "AAA/USDT", 10.0), (30_000, "AAA/USDT", 10.0), (60_000, "AAA/USDT", 9.7)],
    )
    b = tick_file(
        tmp_path / "b.csv",
        [(0, "BBB/USDT", 10.0), (30_000, "BBB/USDT", 10.0), (60_000, "BBB/USDT", 9.7)],
    )
    params = StrategyParams(window_s=60, max_positions=1)
    ab = replay([read_file(a), read_file(b)], params, to_ms=60_000)
    ba = replay([read_file(b), read_file(a)], params, to_ms=60_000)
    # One position allowed: the first symbol given wins the tie at 60000.
    assert [s for s, *_ in _open(ab)] == ["AAA/USDT"]
    assert [s for s, *_ in _open(ba)] == ["BBB/USDT"]


def _open(result: ReplayResult) -> list[tuple[str, int]]:
    return [(p.symbol, p.entry_ts_ms, p.last_price) for p in result.open_positions]


def test_gaps_are_not_filled(tmp_path: Path) -> None:
    minute = 60_000
    starts = [0, minute, 10 * minute, 11 * minute]  # eight minutes missing
    path = tmp_path / "BTCUSDT-1m-2026-03.csv"
    path.write_text("".join(f"{t},100,101,99,100,1,{t + minute - 1},1,1,1,1,0\n" for t in starts))
    series = read_file(path)
    result = replay([series])
    assert result.ticks == 4 * len(starts)
    assert result.last_ts_ms == 12 * minute - 1


def test_from_to_warm_the_anchor_and_trade_only_inside(tmp_path: Path) -> None:
    rows = [
        (0, "BTC/USDT", 100.0),
        (50_000, "BTC/USDT", 100.0),
        (70_000, "BTC/USDT", 97.0),
        (200_000, "BTC/USDT", 97.0),
        (260_000, "BTC/USDT", 94.0),
    ]
    series = [read_file(tick_file(tmp_path / "t.csv", rows))]
    full = replay(series)
    assert [(t.entry_ts_ms, t.exit_reason.value) for t in full.trades] == [(70_000, "stop_loss")]
    # From 70000: the ticks of the window before it warm the anchor, and an older tick
    # proves the window full, so the same entry happens.
    inside = replay(series, from_ms=70_000)
    assert (inside.warm_ticks, inside.ticks) == (1, 3)
    assert trades_csv(inside.trades) == trades_csv(full.trades)
    # From 200000, the window (140000, 200000] holds only 97: no drop, no trade.
    late = replay(series, from_ms=200_000)
    assert late.trades == [] and late.open_positions == []
    # Up to 69999 nothing trades, and the data after it is not read.
    early = replay(series, to_ms=69_999)
    assert (early.ticks, early.trades, early.last_ts_ms) == (2, [], 50_000)
    # Only the first tick in range: too early for the anchor.
    young = replay(series, from_ms=0, to_ms=60_000)
    assert young.trades == [] and young.open_positions == []


def test_quote_mismatch_is_an_error(tmp_path: Path) -> None:
    path = tick_file(tmp_path / "t.csv", [(0, "ETH/BTC", 0.05)])
    with pytest.raises(ReplayError, match=r"ETH/BTC is quoted in BTC.*budget.quote"):
        replay([read_file(path)])


def candle_series(closes: list[list[float]], gaps: list[set[int]]) -> list[Series]:
    out: list[Series] = []
    for n, (prices, gap) in enumerate(zip(closes, gaps, strict=True)):
        s = CandleSeries(Path(f"S{n}_USDT-1m.feather"), f"S{n}/USDT", 60_000)
        prev = 100.0
        for i, c in enumerate(prices):
            if i in gap:
                continue
            s.ts.append(i * 60_000)
            s.open.append(prev)
            s.high.append(max(prev, c) * 1.004)
            s.low.append(min(prev, c) * 0.993)
            s.close.append(c)
            prev = c
        out.append(s)
    return out


walks = st.lists(st.floats(min_value=80, max_value=120, allow_nan=False), min_size=5, max_size=200)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(walks, st.sets(st.integers(0, 199), max_size=30)), min_size=1, max_size=4)
)
def test_fast_candle_path_equals_the_heap_merge(data: list[tuple[list[float], set[int]]]) -> None:
    series = candle_series([d[0] for d in data], [d[1] for d in data])
    params = StrategyParams(
        window_s=300, trigger_pct=1.0, cooldown_s=60, exits=ExitParams(max_hold_ms=600_000)
    )
    fast = replay(series, params)
    slow = replay(series, params, fast=False)
    again = replay(series, params)
    assert trades_csv(fast.trades) == trades_csv(slow.trades) == trades_csv(again.trades)
    assert (fast.ticks, fast.first_ts_ms, fast.last_ts_ms) == (
        slow.ticks,
        slow.first_ts_ms,
        slow.last_ts_ms,
    )
    assert _open(fast) == _open(slow)


def calm_walks(seed: int, coins: int, length: int) -> list[Series]:
    """Long calm random walks (0.05 % steps) that drift up, down or sideways for a few
    hours at a time, with a sudden drop now and then, and gaps: most candles are far
    from any trigger, so the fast path skips them in blocks; a slow fall puts the
    window's high at its oldest end, where a refilled window must still hold it."""
    rng = random.Random(seed)
    out: list[Series] = []
    for n in range(coins):
        s = CandleSeries(Path(f"C{n}_USDT-1m.feather"), f"C{n}/USDT", 60_000)
        price = 100.0
        start = rng.randrange(0, 120)
        drift = 0.0
        for i in range(start, start + length):
            if rng.random() < 0.01:
                continue  # a gap
            if rng.random() < 0.005:
                drift = rng.choice((-0.0004, -0.0002, 0.0, 0.0002))
            if rng.random() < 0.004:
                close = price * rng.uniform(0.93, 0.99)  # a sudden drop
            else:
                close = price * (1 + drift + rng.gauss(0, 0.0005))
            s.ts.append(i * 60_000)
            s.open.append(price)
            s.high.append(max(price, close) * (1 + rng.uniform(0, 0.002)))
            s.low.append(min(price, close) * (1 - rng.uniform(0, 0.002)))
            s.close.append(close)
            price = close
        out.append(s)
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    coins=st.integers(1, 4),
    mode=st.sampled_from(list(AnchorMode)),
    window_s=st.sampled_from([60, 90, 300, 1_800, 3_600]),
    trigger=st.floats(0.3, 4.0),
    cooldown_s=st.sampled_from([0, 60, 900]),
    cut=st.tuples(st.integers(0, 2_000), st.integers(0, 2_000)),
)
def test_skipped_quiet_candles_change_nothing(
    seed: int,
    coins: int,
    mode: AnchorMode,
    window_s: int,
    trigger: float,
    cooldown_s: int,
    cut: tuple[int, int],
) -> None:
    """Every anchor mode, windows that are and are not a whole number of candles, and
    --from/--to anywhere: the candle path that skips quiet blocks and quiet candles gives
    what feeding every tick through `on_tick` gives."""
    series = calm_walks(seed, coins, 1_500)
    params = StrategyParams(
        anchor=mode,
        window_s=window_s,
        trigger_pct=trigger,
        cooldown_s=cooldown_s,
        exits=ExitParams(take_profit_pct=0.8, stop_loss_pct=1.5, max_hold_ms=3_600_000),
    )
    lo, hi = sorted(c * 60_000 + 7_000 for c in cut)
    for kw in ({}, {"from_ms": lo, "to_ms": hi}):
        fast = replay(series, params, **kw)  # type: ignore[arg-type]
        slow = replay(series, params, fast=False, **kw)  # type: ignore[arg-type]
        assert trades_csv(fast.trades) == trades_csv(slow.trades)
        assert (fast.ticks, fast.warm_ticks, fast.first_ts_ms, fast.last_ts_ms) == (
            slow.ticks,
            slow.warm_ticks,
            slow.first_ts_ms,
            slow.last_ts_ms,
        )
        assert _open(fast) == _open(slow)


def test_the_calm_walks_trade_and_are_mostly_quiet() -> None:
    """The data of the test above exercises both paths: it trades, most candles of
    waiting coins are skipped in blocks, and so are blocks of held coins (their exits
    proven quiet) while others are not."""
    series = calm_walks(1, 3, 1_500)
    params = StrategyParams(window_s=1_800, trigger_pct=1.0)
    calls: list[bool] = []
    held: list[bool] = []
    real, real_held = AnchorTracker.quiet_span, ExitWatch.quiet

    def counted(self: AnchorTracker, *args: float) -> bool:
        calls.append(real(self, *args))  # type: ignore[arg-type]
        return calls[-1]

    def counted_held(self: ExitWatch, *args: float) -> bool:
        held.append(real_held(self, *args))  # type: ignore[arg-type]
        return held[-1]

    AnchorTracker.quiet_span = counted  # type: ignore[method-assign]
    ExitWatch.quiet = counted_held  # type: ignore[method-assign]
    try:
        result = replay(series, params)
    finally:
        AnchorTracker.quiet_span = real  # type: ignore[method-assign]
        ExitWatch.quiet = real_held  # type: ignore[method-assign]
    assert len(result.trades) >= 3
    assert sum(calls) >= 0.5 * len(calls) and len(calls) - sum(calls) >= 3
    assert sum(held) >= 10 and len(held) - sum(held) >= 3


@pytest.mark.parametrize(
    ("max_positions", "stake", "daily_loss_pct"),
    [(1, 100, 0.0), (2, 100, 0.5), (5, 300, 0.0)],  # the count refuses, or the budget
)
def test_refused_coins_are_not_decided_until_an_order_and_trade_the_same(
    max_positions: int, stake: int, daily_loss_pct: float
) -> None:
    """Idle coins refused for the position count or the budget are not decided again
    until an order is executed: the same trades and open positions as feeding every
    tick, with fewer decisions than without that rule."""
    series = calm_walks(3, 8, 3_000)
    params = StrategyParams(
        window_s=600,
        trigger_pct=1.0,
        max_positions=max_positions,
        stake=Decimal(stake),
        daily_loss_limit_pct=daily_loss_pct,
        exits=ExitParams(take_profit_pct=1.0, stop_loss_pct=2.0, max_hold_ms=1_800_000),
    )
    decided: list[int] = []
    real = Signals.decide

    def counted(self: Signals, *args: object) -> object:
        decided[-1] += 1
        return real(self, *args)  # type: ignore[arg-type]

    results = []
    with patch.object(Signals, "decide", counted):
        for wait_aside in (core_signals.ORDER_LIFTED, ()):
            decided.append(0)
            with patch.object(core_signals, "ORDER_LIFTED", wait_aside):
                results.append(replay(series, params))
    slow = replay(series, params, fast=False)
    for result in results:
        assert trades_csv(result.trades) == trades_csv(slow.trades)
        assert _open(result) == _open(slow)
    assert len(slow.trades) >= 10
    assert decided[0] < decided[1]


def test_a_refilled_window_keeps_its_oldest_high() -> None:
    """See `oldest_high_candles`: the window refilled at candle 320, the first of a block,
    must hold the 100 at its oldest end."""
    s = oldest_high_candles(0)
    params = StrategyParams(window_s=3_600, trigger_pct=2.0)
    fast, slow = replay([s], params), replay([s], params, fast=False)
    assert [(s, t) for s, t, _ in _open(slow)] == [("F/USDT", OLDEST_HIGH_ENTRY_MS)]
    assert _open(fast) == _open(slow)
    assert trades_csv(fast.trades) == trades_csv(slow.trades)


def test_tick_series_and_candles_mix(tmp_path: Path) -> None:
    candles = candle_series([[100, 97, 96, 99, 101]], [set()])
    ticks = read_file(
        tick_file(tmp_path / "t.csv", [(30_000, "T/USDT", 5.0), (90_000, "T/USDT", 5.1)])
    )
    assert isinstance(ticks, TickSeries)
    result = replay([*candles, ticks])
    assert result.ticks == 5 * 4 + 2
    assert result.symbols == ["S0/USDT", "T/USDT"]


def test_a_replay_without_a_closed_trade_has_no_win_rate_to_show() -> None:
    from tradebot_tui.replay.runner import ReplayResult, report_lines

    lines = report_lines(ReplayResult(symbols=["BTC/USDT"]), "USDT")
    assert "win rate      — (no closed trade)" in lines
    assert not any("0 of 0" in line for line in lines)
