"""The replay's full report: tables per pair and per exit reason, the best and worst pair
and day, and the account's figures (CAGR, profit factor, expectancy, Sharpe, Sortino,
Calmar, SQN, drawdown with its dates, market change, winning and losing days).

Every figure is defined in docs/replay-and-tune.md, "The report", and computed from the
closed trades alone (in exit order), the starting balance and the period: what the
trades file holds, so anyone can check them.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradebot_tui.core.book import Trade
from tradebot_tui.data.feather import CandleStream
from tradebot_tui.data.series import CandleSeries, Series, TickSeries

DAY_MS = 86_400_000
YEAR_DAYS = 365


@dataclass(slots=True)
class Group:
    """The closed trades of one pair or one exit reason."""

    key: str
    trades: int = 0
    wins: int = 0
    profit: float = 0.0  # quote, fees included
    profit_pct_sum: float = 0.0  # of each trade's cost
    duration_ms: int = 0

    def add(self, trade: Trade) -> None:
        self.trades += 1
        self.wins += trade.pnl > 0
        self.profit += float(trade.pnl)
        cost = float(trade.qty * trade.entry_price)
        self.profit_pct_sum += float(trade.pnl) / cost * 100 if cost else 0.0
        self.duration_ms += trade.exit_ts_ms - trade.entry_ts_ms

    def as_dict(self) -> dict[str, Any]:
        n = self.trades
        return {
            "key": self.key,
            "trades": n,
            "wins": self.wins,
            "win_pct": self.wins / n * 100 if n else 0.0,
            "avg_profit_pct": self.profit_pct_sum / n if n else 0.0,
            "avg_profit": self.profit / n if n else 0.0,
            "total_profit": self.profit,
            "avg_duration_s": self.duration_ms / n / 1000 if n else 0.0,
        }


@dataclass(slots=True)
class Report:
    """Everything `replay` reports beyond its summary, as `--export` writes it."""

    start_ms: int
    end_ms: int
    starting_balance: float
    final_balance: float
    pairs: list[dict[str, Any]] = field(default_factory=list)
    exit_reasons: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "starting_balance": self.starting_balance,
            "final_balance": self.final_balance,
            "pairs": self.pairs,
            "exit_reasons": self.exit_reasons,
            **self.figures,
        }


def day_of(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")


def build(
    trades: Sequence[Trade],
    initial: Decimal,
    start_ms: int,
    end_ms: int,
    market: dict[str, tuple[float, float]],
) -> Report:
    """The report of `trades` (in exit order) over [start_ms, end_ms] for an account that
    started at `initial`; `market` is each pair's first and last price of the period."""
    start_balance = float(initial)
    final = start_balance + sum(float(t.pnl) for t in trades)
    report = Report(start_ms, end_ms, start_balance, final)
    pairs: dict[str, Group] = {}
    reasons: dict[str, Group] = {}
    for t in trades:
        pairs.setdefault(t.symbol, Group(t.symbol)).add(t)
        reasons.setdefault(t.exit_reason.value, Group(t.exit_reason.value)).add(t)
    report.pairs = [g.as_dict() for g in sorted(pairs.values(), key=lambda g: -g.profit)]
    report.exit_reasons = [g.as_dict() for g in sorted(reasons.values(), key=lambda g: -g.trades)]
    report.figures = figures(trades, start_balance, final, start_ms, end_ms, market)
    if report.pairs:
        report.figures["best_pair"] = report.pairs[0]["key"]
        report.figures["worst_pair"] = report.pairs[-1]["key"]
    return report


def figures(
    trades: Sequence[Trade],
    start_balance: float,
    final: float,
    start_ms: int,
    end_ms: int,
    market: dict[str, tuple[float, float]],
) -> dict[str, Any]:
    profits = [float(t.pnl) for t in trades]
    gains = sum(p for p in profits if p > 0)
    losses = -sum(p for p in profits if p < 0)
    wins = [p for p in profits if p > 0]
    lost = [p for p in profits if p <= 0]
    days = max((end_ms - start_ms + 1) / DAY_MS, 1 / 1440)
    growth = final / start_balance if start_balance > 0 else 0.0
    cagr = growth ** (YEAR_DAYS / days) - 1 if growth > 0 else -1.0
    daily = daily_profits(trades, start_ms, end_ms)
    returns = [p / start_balance for p in daily.values()] if start_balance > 0 else []
    dd = drawdown(trades, start_balance, start_ms)
    out: dict[str, Any] = {
        "trades": len(profits),
        "total_profit": final - start_balance,
        "total_profit_pct": (growth - 1) * 100,
        "cagr_pct": cagr * 100,
        "profit_factor": gains / losses if losses else None,
        "expectancy": statistics.fmean(profits) if profits else 0.0,
        "expectancy_ratio": expectancy_ratio(wins, lost),
        "sharpe": sharpe(returns),
        "sortino": sortino(returns),
        "calmar": cagr / (dd["max_drawdown_pct"] / 100) if dd["max_drawdown_pct"] else None,
        "sqn": sqn(profits),
        **dd,
        "market_change_pct": market_change_pct(market),
        "days_win": sum(1 for p in daily.values() if p > 0),
        "days_draw": sum(1 for p in daily.values() if p == 0),
        "days_lose": sum(1 for p in daily.values() if p < 0),
    }
    if daily and profits:
        best = max(daily, key=lambda d: daily[d])
        worst = min(daily, key=lambda d: daily[d])
        out["best_day"] = {"day": best, "profit": daily[best]}
        out["worst_day"] = {"day": worst, "profit": daily[worst]}
    return out


def daily_profits(trades: Iterable[Trade], start_ms: int, end_ms: int) -> dict[str, float]:
    """Closed profit per UTC day of the period (by exit time), every day listed."""
    out: dict[str, float] = {}
    day = start_ms - start_ms % DAY_MS
    while day <= end_ms:
        out[day_of(day)] = 0.0
        day += DAY_MS
    for t in trades:
        key = day_of(t.exit_ts_ms)
        out[key] = out.get(key, 0.0) + float(t.pnl)
    return out


def expectancy_ratio(wins: list[float], lost: list[float]) -> float | None:
    """(1 + average win / average loss) x win rate - 1 (freqtrade's and Van Tharp's)."""
    if not wins or not lost:
        return None
    average_loss = -statistics.fmean(lost)
    if average_loss <= 0:
        return None
    rate = len(wins) / (len(wins) + len(lost))
    return (1 + statistics.fmean(wins) / average_loss) * rate - 1


def sharpe(returns: list[float]) -> float | None:
    """Mean daily return over its standard deviation, times the root of 365."""
    if len(returns) < 2:
        return None
    deviation = statistics.stdev(returns)
    return statistics.fmean(returns) / deviation * math.sqrt(YEAR_DAYS) if deviation else None


def sortino(returns: list[float]) -> float | None:
    """Mean daily return over the downside deviation (of the days below zero, over all
    days), times the root of 365."""
    if len(returns) < 2:
        return None
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    return statistics.fmean(returns) / downside * math.sqrt(YEAR_DAYS) if downside else None


def sqn(profits: list[float]) -> float | None:
    """System quality number: root of the trade count x mean profit / its deviation."""
    if len(profits) < 2:
        return None
    deviation = statistics.stdev(profits)
    return math.sqrt(len(profits)) * statistics.fmean(profits) / deviation if deviation else None


def drawdown(trades: Sequence[Trade], start_balance: float, start_ms: int) -> dict[str, Any]:
    """The largest fall of closed-trade equity from a running peak: how much, from when
    (the peak: the trade that made it, or the start), to when (the trough)."""
    equity = peak = start_balance
    peak_ms = start_ms
    worst = 0.0
    worst_pct = 0.0
    span: tuple[int, int] | None = None
    for t in trades:
        equity += float(t.pnl)
        if equity > peak:
            peak, peak_ms = equity, t.exit_ts_ms
        fall = peak - equity
        if fall > worst:
            worst = fall
            worst_pct = fall / peak * 100 if peak > 0 else 0.0
            span = (peak_ms, t.exit_ts_ms)
    return {
        "max_drawdown": worst,
        "max_drawdown_pct": worst_pct,
        "drawdown_start_ms": span[0] if span else None,
        "drawdown_end_ms": span[1] if span else None,
        "drawdown_duration_s": (span[1] - span[0]) / 1000 if span else None,
    }


def market_change_pct(market: dict[str, tuple[float, float]]) -> float | None:
    """Buy and hold over the same pairs, equal weights: the mean of each pair's change
    from its first price of the period to its last."""
    changes = [(last / first - 1) * 100 for first, last in market.values() if first > 0]
    return statistics.fmean(changes) if changes else None


def first_and_last_prices(
    series: Sequence[Series | CandleStream], start_ms: int, end_ms: int
) -> dict[str, tuple[float, float]]:
    """Each pair's first price (a candle's open, a tick's price) and last (a close) in
    [start_ms, end_ms]; a streamed file is read again, a chunk at a time."""
    found: dict[str, tuple[float, float]] = {}

    def note(symbol: str, first: float | None, last: float | None) -> None:
        old = found.get(symbol)
        if first is not None and old is None:
            found[symbol] = (first, last if last is not None else first)
        elif last is not None and old is not None:
            found[symbol] = (old[0], last)

    def candles(s: CandleSeries) -> None:
        lo, hi = bisect_left(s.ts, start_ms), bisect_right(s.ts, end_ms)
        if lo < hi:
            note(s.symbol, s.open[lo], s.close[hi - 1])

    for s in series:
        if isinstance(s, CandleStream):
            for chunk in s.chunks():
                candles(chunk)
        elif isinstance(s, CandleSeries):
            candles(s)
        elif isinstance(s, TickSeries):
            lo, hi = bisect_left(s.ts, start_ms), bisect_right(s.ts, end_ms)
            for i in range(lo, hi):
                note(s.symbols[s.symbol_index[i]], s.price[i], s.price[i])
    return found


# -- text ----------------------------------------------------------------------------------


def _num(value: float | None, places: int = 2) -> str:
    return "—" if value is None else f"{value:,.{places}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    return f"{days}d {rest // 60:02d}:{rest % 60:02d}" if days else f"{rest // 60}:{rest % 60:02d}"


def table(title: str, rows: list[dict[str, Any]], quote: str) -> list[str]:
    head = (
        f"{title:<14}{'trades':>7}{'win %':>8}{'avg %':>8}{'avg ' + quote:>12}"
        f"{'total ' + quote:>14}{'avg held':>11}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['key']:<14}{r['trades']:>7}{r['win_pct']:>8.1f}{r['avg_profit_pct']:>8.2f}"
            f"{r['avg_profit']:>12.4f}{r['total_profit']:>14.4f}"
            f"{_duration(r['avg_duration_s']):>11}"
        )
    return lines


def report_text(report: Report, quote: str) -> list[str]:
    """The tables and figures under the summary."""
    f = report.figures
    if not f.get("trades"):
        return []

    def when(ts: int | None) -> str:
        return (
            "—" if ts is None else datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        )

    lines = ["", *table("pair", report.pairs, quote), ""]
    lines += [*table("exit reason", report.exit_reasons, quote), ""]
    best, worst = f.get("best_day"), f.get("worst_day")
    rows = [
        ("starting balance", f"{report.starting_balance:,.4f} {quote}"),
        ("final balance", f"{report.final_balance:,.4f} {quote} ({f['total_profit_pct']:+.2f} %)"),
        ("CAGR", f"{f['cagr_pct']:,.2f} %"),
        ("profit factor", _num(f["profit_factor"])),
        (
            "expectancy",
            f"{f['expectancy']:+.4f} {quote} a trade (ratio {_num(f['expectancy_ratio'])})",
        ),
        ("Sharpe", _num(f["sharpe"])),
        ("Sortino", _num(f["sortino"])),
        ("Calmar", _num(f["calmar"])),
        ("SQN", _num(f["sqn"])),
        (
            "max drawdown",
            f"{f['max_drawdown']:.4f} {quote} ({f['max_drawdown_pct']:.2f} %) from "
            f"{when(f['drawdown_start_ms'])} to {when(f['drawdown_end_ms'])} "
            f"({_duration(f['drawdown_duration_s'])})",
        ),
        ("market change", f"{_num(f['market_change_pct'])} % (buy and hold, same pairs)"),
        ("best pair", f"{f.get('best_pair', '—')}"),
        ("worst pair", f"{f.get('worst_pair', '—')}"),
        ("best day", f"{best['day']} {best['profit']:+.4f} {quote}" if best else "—"),
        ("worst day", f"{worst['day']} {worst['profit']:+.4f} {quote}" if worst else "—"),
        ("days", f"{f['days_win']} won, {f['days_draw']} even, {f['days_lose']} lost"),
    ]
    return lines + [f"{name:<18}{value}" for name, value in rows]
