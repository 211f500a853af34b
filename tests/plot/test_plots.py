"""`replay --plot` and `tune --plot`: one self-contained HTML page each, the strategy's own
anchor and trigger drawn, every entry and exit marked."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.test_cli_replay import saw_tooth
from tests.test_cli_tune import write_klines
from tradebot_tui.cli import main
from tradebot_tui.core.anchors import AnchorMode
from tradebot_tui.core.book import Trade
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.data.series import TickSeries
from tradebot_tui.plot import replay_plot

pytest.importorskip("plotly")


def traces(page: str) -> list[dict[str, object]]:
    """The traces of every figure of a page, as plotly serialised them."""
    found = []
    for call in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*\{", page, re.S):
        found.extend(json.loads(call.group(1)))
    return found


def test_replay_plot_is_one_page_with_equity_drawdown_and_every_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = [str(p) for p in write_klines(tmp_path / "data", coins=2, seed=7)]
    config = tmp_path / "c.toml"
    config.write_text("[strategy]\nwindow_s = 1800\n[risk]\ncooldown_s = 0\n")
    page_path, trades_path = tmp_path / "replay.html", tmp_path / "t.csv"
    argv = ["replay", *data, "--config", str(config), "--plot", str(page_path)]
    assert main([*argv, "--trades-out", str(trades_path)]) == 0
    assert f"plot written to {page_path}" in capsys.readouterr().out
    page = page_path.read_text()
    assert "<script src=" not in page  # plotly.js is inside: it opens offline
    drawn = {str(t["name"]): t for t in traces(page)}
    symbols = sorted({line.split(",")[0] for line in trades_path.read_text().splitlines()[1:]})
    assert {"equity", "drawdown"} <= set(drawn)
    exits = 0
    for symbol in symbols:
        for part in ("price", "anchor", "trigger", "entries", "exits"):
            assert f"{symbol} {part}" in drawn
        exits += len(drawn[f"{symbol} exits"]["x"])  # type: ignore[arg-type]
    assert exits == len(trades_path.read_text().splitlines()) - 1
    assert not list(tmp_path.glob(".*.part"))


def test_the_anchor_drawn_is_the_strategy_s_and_long_spans_are_bucketed() -> None:
    rows = [line.strip().split(",") for line in saw_tooth("BTC/USDT", minutes=600)]
    ticks = TickSeries(Path("t.csv"), ["BTC/USDT"])
    for ts, _sym, price in rows:
        ticks.ts.append(int(ts))
        ticks.symbol_index.append(0)
        ticks.price.append(float(price))
    params = StrategyParams(window_s=300, anchor=AnchorMode.ROLLING_HIGH)
    start, end = 600_000, 599 * 60_000
    at, prices, anchors = replay_plot.pair_lines([ticks], "BTC/USDT", [], params, start, end)
    assert len(at) == len(prices) == len(anchors) == (end - start) // 60_000 + 1
    for when, anchor in zip(at, anchors, strict=True):
        t = int(when.timestamp() * 1000)
        window = [float(p) for ts, _s, p in rows if t - 300_000 < int(ts) <= t]
        assert anchor == max(window)  # the rolling high of the last five minutes
    few = replay_plot.MAX_POINTS
    replay_plot.MAX_POINTS = 10
    try:
        at, _, _ = replay_plot.pair_lines([ticks], "BTC/USDT", [], params, start, end)
    finally:
        replay_plot.MAX_POINTS = few
    assert len(at) <= 11


def test_the_equity_steps_at_each_exit_and_the_drawdown_is_below_the_running_peak() -> None:
    def trade(pnl: str, at: int) -> Trade:
        one = Decimal(1)
        return Trade(
            "X/USDT", at - 1, one, at, one, one, ExitReason.MANUAL, Decimal(pnl), Decimal(0)
        )

    times, equity, under = replay_plot.equity_points(
        [trade("10", 2_000), trade("-22", 3_000), trade("5", 4_000)], 100.0, 0, 9_000
    )
    assert equity == [100.0, 110.0, 88.0, 93.0, 93.0]
    assert under == [0.0, 0.0, -20.0, (93 - 110) / 110 * 100, (93 - 110) / 110 * 100]
    assert [int(t.timestamp() * 1000) for t in times] == [0, 2_000, 3_000, 4_000, 9_000]


def test_tune_plot_draws_history_importances_and_a_contour(
    tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = [str(p) for p in write_klines(tmp_path / "data", coins=2)]
    page_path = tmp_path / "tune.html"
    argv = ["tune", *data, "--trials", "8", "--workers", "1", "--min-trades", "0"]
    assert main([*argv, "--plot", str(page_path)]) == 0
    assert f"plot written to {page_path}" in capsys.readouterr().err
    page = page_path.read_text()
    for title in ("Optimization History Plot", "Hyperparameter Importances", "Contour Plot"):
        assert title in page
    assert page.count("Plotly.newPlot") == 3 and page.count("<script src=") == 0
