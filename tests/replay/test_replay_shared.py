"""Replays over the real market data in ../shared/data (skipped where it is absent).

Set TRADEBOT_SHARED_DATA to the data folder when the checkout does not sit next to it.
"""

from __future__ import annotations

import os
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.money import EXACT, ZERO
from tradebot_tui.data.files import read_file
from tradebot_tui.data.series import CandleSeries, Series, series_span
from tradebot_tui.data.trades_csv import trades_csv
from tradebot_tui.replay.runner import ReplayResult, run_replay

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("TRADEBOT_SHARED_DATA") or ROOT.parent / "shared" / "data")
OHLCV = DATA / "ohlcv"

pytestmark = pytest.mark.skipif(
    not OHLCV.is_dir(),
    reason=f"shared market data not found at {DATA} (set TRADEBOT_SHARED_DATA)",
)

CRASH_MONTHS = ["2020-03", "2022-11", "2025-04"]


def replay_files(paths: list[Path], quote: str = "USDT", **kwargs: int) -> ReplayResult:
    settings = Settings()
    initial = Decimal(1000) if quote == "USDT" else Decimal(1)
    params = settings.strategy_params()
    if quote != "USDT":
        from dataclasses import replace

        params = replace(params, stake=Decimal("0.1"))
    return run_replay([read_file(p) for p in paths], params, quote=quote, initial=initial, **kwargs)


def check_sane(result: ReplayResult, series: list[Series], window_s: int = 3600) -> None:
    """Trades happen, the money adds up, nothing trades before the anchor is warm."""
    assert result.stats.trades > 0
    ledger = result.ledger
    assert ledger is not None
    ledger.check()
    with localcontext(EXACT):
        open_fees = sum((p.entry_fees for p in result.open_positions), ZERO)
        assert ledger.realized_equity() == ledger.initial + result.stats.pnl - open_fees
    first_tick = {sym: min(s.ts[0] for s in series if sym in s.symbols) for sym in result.symbols}
    for trade in result.trades:
        assert trade.entry_ts_ms - first_tick[trade.symbol] >= window_s * 1000
        assert trade.exit_ts_ms > trade.entry_ts_ms
        assert trade.qty > 0 and trade.entry_price > 0
    span = series_span(series)
    assert span is not None and span[0] <= result.trades[0].entry_ts_ms <= span[1]


@pytest.mark.parametrize("month", CRASH_MONTHS)
def test_btc_crash_months(month: str) -> None:
    path = OHLCV / "binance_vision_btcusdt_1m" / f"BTCUSDT-1m-{month}.csv.gz"
    series = [read_file(path)]
    result = replay_files([path])
    check_sane(result, series)
    candles = series[0]
    assert isinstance(candles, CandleSeries)
    assert result.ticks == 4 * len(candles)  # gaps (2020-03 has one) stay gaps
    # Timestamps land in the month whether the file wrote ms or µs.
    from datetime import UTC, datetime

    assert result.first_ts_ms is not None
    assert datetime.fromtimestamp(result.first_ts_ms / 1000, UTC).strftime("%Y-%m") == month
    assert result.stats.reasons  # a crash month exercises the exits


def test_five_pairs_merged_and_deterministic() -> None:
    paths = sorted((OHLCV / "binance_spot_1m_2026-03_5pairs").glob("*_USDT-1m.feather"))
    assert len(paths) == 5
    series = [read_file(p) for p in paths]
    first = replay_files(paths)
    check_sane(first, series)
    assert first.ticks == 4 * sum(len(s) for s in series)
    assert len({t.symbol for t in first.trades}) >= 3
    again = replay_files(paths)
    assert trades_csv(again.trades) == trades_csv(first.trades)


def test_a_window_of_the_five_pairs_with_from_to() -> None:
    paths = sorted((OHLCV / "binance_spot_1m_2026-03_5pairs").glob("*_USDT-1m.feather"))
    start, end = 1_775_001_600_000, 1_775_606_399_999  # 2026-04-01 .. 2026-04-07 UTC
    part = replay_files(paths, from_ms=start, to_ms=end)
    assert part.first_ts_ms == start
    assert part.last_ts_ms is not None and part.last_ts_ms <= end
    assert part.warm_ticks == 5 * 4 * 60  # one hour of candles, four ticks each
    assert all(start <= t.entry_ts_ms <= end for t in part.trades)


def test_freqtrade_testdata_btc_quoted_and_sparse() -> None:
    folder = OHLCV / "freqtrade_testdata"
    paths = sorted(folder.glob("*_BTC-5m.feather"))
    assert len(paths) == 10
    series = [read_file(p) for p in paths]
    result = replay_files(paths, quote="BTC")
    check_sane(result, series)
    assert result.ticks == 4 * sum(len(s) for s in series)
    sparse = folder / "UNITTEST_BTC-1m.feather"
    lone = replay_files([sparse], quote="BTC")
    assert lone.ticks == 4 * len(read_file(sparse))


def test_freqtrade_trades_are_ticks() -> None:
    path = OHLCV / "freqtrade_testdata" / "XRP_ETH-trades.json.gz"
    result = replay_files([path], quote="ETH")
    assert result.ticks == 12_477
    assert result.ledger is not None
    result.ledger.check()
