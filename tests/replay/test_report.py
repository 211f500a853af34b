"""The replay's full report and its `--export`: every figure recomputed here, another
way, from the trades file and the data, and each definition held at its edges."""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from tests.test_cli_tune import write_klines
from tradebot_tui.cli import main
from tradebot_tui.core.book import Trade
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.replay import report

CONFIG = "[strategy]\nwindow_s = 1800\n[risk]\ncooldown_s = 0\n"


def day(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).date().isoformat()


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_the_export_equals_an_independent_computation_from_the_trades_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = [str(p) for p in write_klines(tmp_path / "data", coins=3, seed=7)]
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    trades_file, export = tmp_path / "trades.csv", tmp_path / "report.json"
    argv = ["replay", *data, "--config", str(config), "--trades-out", str(trades_file)]
    assert main([*argv, "--export", str(export)]) == 0
    printed = capsys.readouterr().out
    got = json.loads(export.read_text())
    with trades_file.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 20 and got["trades"] == len(rows)
    pnl = [Fraction(r["pnl_quote"]) for r in rows]
    initial = Fraction(1000)

    # Tables: per pair and per exit reason.
    for key, table in (("symbol", "pairs"), ("exit_reason", "exit_reasons")):
        groups: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in rows:
            groups[r[key]].append(r)
        assert {g["key"] for g in got[table]} == set(groups)
        for g in got[table]:
            mine = groups[g["key"]]
            total = sum(Fraction(r["pnl_quote"]) for r in mine)
            held = sum(int(r["exit_ts_ms"]) - int(r["entry_ts_ms"]) for r in mine)
            pct = sum(
                Fraction(r["pnl_quote"]) / (Fraction(r["qty"]) * Fraction(r["entry_price"]))
                for r in mine
            )
            assert g["trades"] == len(mine)
            assert g["wins"] == sum(Fraction(r["pnl_quote"]) > 0 for r in mine)
            assert close(g["total_profit"], float(total))
            assert close(g["avg_profit"], float(total / len(mine)))
            assert close(g["avg_profit_pct"], float(pct * 100 / len(mine)))
            assert close(g["avg_duration_s"], held / len(mine) / 1000)
    assert (
        got["best_pair"] == got["pairs"][0]["key"] and got["worst_pair"] == got["pairs"][-1]["key"]
    )

    # Balance, profit factor, expectancy, SQN.
    final = initial + sum(pnl)
    assert close(got["final_balance"], float(final))
    gains, losses = sum(p for p in pnl if p > 0), -sum(p for p in pnl if p < 0)
    assert close(got["profit_factor"], float(gains / losses))
    assert close(got["expectancy"], float(sum(pnl) / len(pnl)))
    wins, lost = [p for p in pnl if p > 0], [p for p in pnl if p <= 0]
    ratio = (1 + (sum(wins) / len(wins)) / (-sum(lost) / len(lost))) * len(wins) / len(pnl) - 1
    assert close(got["expectancy_ratio"], float(ratio))
    mean = sum(pnl) / len(pnl)
    var = sum((p - mean) ** 2 for p in pnl) / (len(pnl) - 1)
    assert close(got["sqn"], math.sqrt(len(pnl)) * float(mean) / math.sqrt(float(var)))

    # Days, Sharpe, Sortino, CAGR, Calmar: over every UTC day of the period.
    start, end = got["start_ms"], got["end_ms"]
    days = {day(t): Fraction(0) for t in range(start - start % 86_400_000, end + 1, 86_400_000)}
    for r in rows:
        days[day(int(r["exit_ts_ms"]))] += Fraction(r["pnl_quote"])
    returns = [float(v / initial) for v in days.values()]
    n = len(returns)
    mu = sum(returns) / n
    sd = math.sqrt(sum((x - mu) ** 2 for x in returns) / (n - 1))
    down = math.sqrt(sum(x * x for x in returns if x < 0) / n)
    assert close(got["sharpe"], mu / sd * math.sqrt(365))
    assert close(got["sortino"], mu / down * math.sqrt(365))
    assert (got["days_win"], got["days_draw"], got["days_lose"]) == (
        sum(v > 0 for v in days.values()),
        sum(v == 0 for v in days.values()),
        sum(v < 0 for v in days.values()),
    )
    best = max(days.items(), key=lambda kv: kv[1])
    assert got["best_day"]["day"] == best[0] and close(got["best_day"]["profit"], float(best[1]))
    years = (end - start + 1) / 86_400_000 / 365
    cagr = float(final / initial) ** (1 / years) - 1
    assert close(got["cagr_pct"], cagr * 100)

    # Drawdown on closed-trade equity, with its peak and trough times.
    equity, peak, peak_at, worst = initial, initial, start, (Fraction(0), start, start)
    for r, p in zip(rows, pnl, strict=True):
        equity += p
        if equity > peak:
            peak, peak_at = equity, int(r["exit_ts_ms"])
        if peak - equity > worst[0]:
            worst = (peak - equity, peak_at, int(r["exit_ts_ms"]))
    assert close(got["max_drawdown"], float(worst[0]))
    assert (got["drawdown_start_ms"], got["drawdown_end_ms"]) == worst[1:]
    assert close(got["calmar"], cagr / (got["max_drawdown_pct"] / 100))

    # Market change: each file's first open and last close of the period, equal weights.
    changes = []
    for path in data:
        lines = [x.split(",") for x in Path(path).read_text().splitlines()]
        inside = [x for x in lines if start <= int(x[0]) <= end]
        changes.append(float(inside[-1][4]) / float(inside[0][1]) - 1)
    assert close(got["market_change_pct"], sum(changes) / len(changes) * 100)

    # The text shows the same figures.
    assert f"profit factor     {got['profit_factor']:,.2f}" in printed
    assert f"SQN               {got['sqn']:,.2f}" in printed
    assert "exit reason    trades   win %" in printed


def trade(pnl: str, exit_ms: int, symbol: str = "BTC/USDT") -> Trade:
    return Trade(
        symbol, exit_ms - 60_000, Decimal(100), exit_ms, Decimal(100), Decimal(1),
        ExitReason.TAKE_PROFIT, Decimal(pnl), Decimal(0),
    )  # fmt: skip


def test_figures_without_losses_or_with_one_trade_are_not_invented() -> None:
    only_wins = report.build(
        [trade("1", 86_400_000), trade("2", 2 * 86_400_000)],
        Decimal(100),
        0,
        3 * 86_400_000 - 1,
        {},
    ).figures
    assert only_wins["profit_factor"] is None  # no loss: not infinite, not a number
    assert only_wins["expectancy_ratio"] is None and only_wins["calmar"] is None
    assert only_wins["max_drawdown"] == 0 and only_wins["drawdown_start_ms"] is None
    assert only_wins["market_change_pct"] is None
    one = report.build([trade("-1", 60_000)], Decimal(100), 0, 86_399_999, {}).figures
    assert one["sqn"] is None and one["sharpe"] is None  # one day, one trade: no deviation
    assert one["days_lose"] == 1 and one["days_draw"] == 0


def test_a_drawdown_from_the_start_counts_from_the_start_and_a_new_peak_moves_it() -> None:
    trades = [trade("-5", 1_000_000), trade("+10", 2_000_000), trade("-8", 3_000_000)]
    dd = report.drawdown(trades, 100.0, 0)
    assert dd["max_drawdown"] == 8.0 and dd["drawdown_start_ms"] == 2_000_000
    assert dd["max_drawdown_pct"] == 8 / 105 * 100
    first = report.drawdown(trades[:1], 100.0, 0)
    assert (first["drawdown_start_ms"], first["drawdown_end_ms"]) == (0, 1_000_000)
