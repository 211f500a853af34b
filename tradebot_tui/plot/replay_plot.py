"""`replay --plot`: the account's equity and drawdown, and per pair its price with the
anchor, the trigger level, the entries and the exits.

The anchor is the strategy's own (core.anchors), fed the same ticks as the replay and
told of the same exits; long spans are drawn a bucket of time at a point (the last
price and anchor of each), at most `MAX_POINTS` points a pair. Entries and exits are
drawn exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from tradebot_tui.core.book import Trade
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.ticks import candle_to_ticks
from tradebot_tui.data.feather import CandleStream
from tradebot_tui.data.series import CandleSeries, Series, TickSeries
from tradebot_tui.plot.html import plotly, write_page

MAX_POINTS = 4000


def when(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, UTC)


def ticks_of(series: Sequence[Series | CandleStream], symbol: str) -> Iterator[tuple[int, float]]:
    """The symbol's ticks as the replay sees them (a candle as its four ticks)."""
    for s in series:
        if symbol not in s.symbols:
            continue
        if isinstance(s, CandleStream | CandleSeries):
            chunks = s.chunks() if isinstance(s, CandleStream) else [s]
            for c in chunks:
                period = c.period_ms
                for t, o, h, lo, cl in zip(c.ts, c.open, c.high, c.low, c.close, strict=True):
                    yield from candle_to_ticks(t, period, o, h, lo, cl)
        elif isinstance(s, TickSeries):
            index = s.symbols.index(symbol)
            for t, i, p in zip(s.ts, s.symbol_index, s.price, strict=True):
                if i == index:
                    yield t, p


def pair_lines(
    series: Sequence[Series | CandleStream],
    symbol: str,
    trades: Sequence[Trade],
    params: StrategyParams,
    start_ms: int,
    end_ms: int,
) -> tuple[list[datetime], list[float], list[float | None]]:
    """(times, prices, anchors) of one pair over [start_ms, end_ms], bucketed."""
    tracker = params.anchor_tracker()
    exits = sorted((t.exit_ts_ms, float(t.exit_price)) for t in trades if t.symbol == symbol)
    bucket = max(1, (end_ms - start_ms) // MAX_POINTS)
    times: list[datetime] = []
    prices: list[float] = []
    anchors: list[float | None] = []
    warm_from = start_ms - params.window_s * 1000
    next_exit = 0
    current = None
    for ts, price in ticks_of(series, symbol):
        if ts < warm_from:
            continue
        if ts > end_ms:
            break
        while next_exit < len(exits) and exits[next_exit][0] < ts:
            tracker.record_exit(*exits[next_exit])
            next_exit += 1
        anchor = tracker.update(ts, price)
        if ts < start_ms:
            continue
        slot = (ts - start_ms) // bucket
        if slot != current:
            current = slot
            times.append(when(ts))
            prices.append(price)
            anchors.append(anchor)
        else:
            prices[-1], anchors[-1] = price, anchor
    return times, prices, anchors


def equity_points(
    trades: Sequence[Trade], initial: float, start_ms: int, end_ms: int
) -> tuple[list[datetime], list[float], list[float]]:
    """Closed-trade equity as steps, and the fall below its running peak in %."""
    times, equity, under = [when(start_ms)], [initial], [0.0]
    value = peak = initial
    for t in sorted(trades, key=lambda t: t.exit_ts_ms):
        value += float(t.pnl)
        peak = max(peak, value)
        times.append(when(t.exit_ts_ms))
        equity.append(value)
        under.append((value - peak) / peak * 100 if peak > 0 else 0.0)
    times.append(when(end_ms))
    equity.append(value)
    under.append(under[-1])
    return times, equity, under


def write_replay_plot(
    path: Path,
    series: Sequence[Series | CandleStream],
    symbols: Sequence[str],
    trades: Sequence[Trade],
    params: StrategyParams,
    initial: float,
    quote: str,
    start_ms: int,
    end_ms: int,
) -> None:
    plotly()
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    rows = 2 + len(symbols)
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        row_heights=[2, 1] + [2] * len(symbols),
        subplot_titles=[f"Equity ({quote}, closed trades)", "Drawdown (%)", *symbols],
    )
    times, equity, under = equity_points(trades, initial, start_ms, end_ms)
    fig.add_trace(go.Scatter(x=times, y=equity, name="equity", line_shape="hv"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=times, y=under, name="drawdown", fill="tozeroy", line_shape="hv"),
        row=2,
        col=1,
    )
    trigger = 1 - params.trigger_pct / 100
    for row, symbol in enumerate(symbols, start=3):
        at, prices, anchors = pair_lines(series, symbol, trades, params, start_ms, end_ms)
        fig.add_trace(go.Scatter(x=at, y=prices, name=f"{symbol} price"), row=row, col=1)
        fig.add_trace(go.Scatter(x=at, y=anchors, name=f"{symbol} anchor"), row=row, col=1)
        levels = [None if a is None else a * trigger for a in anchors]
        fig.add_trace(
            go.Scatter(x=at, y=levels, name=f"{symbol} trigger", line={"dash": "dot"}),
            row=row,
            col=1,
        )
        mine = [t for t in trades if t.symbol == symbol]
        fig.add_trace(
            go.Scatter(
                x=[when(t.entry_ts_ms) for t in mine],
                y=[float(t.entry_price) for t in mine],
                mode="markers",
                marker={"symbol": "triangle-up", "size": 9, "color": "#2a9d8f"},
                name=f"{symbol} entries",
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=[when(t.exit_ts_ms) for t in mine],
                y=[float(t.exit_price) for t in mine],
                mode="markers",
                marker={
                    "symbol": "triangle-down",
                    "size": 9,
                    "color": ["#2a9d8f" if t.pnl > 0 else "#e76f51" for t in mine],
                },
                text=[f"{t.exit_reason.value} {float(t.pnl):+.4f} {quote}" for t in mine],
                name=f"{symbol} exits",
            ),
            row=row,
            col=1,
        )
    fig.update_layout(height=300 * rows, showlegend=True, hovermode="x unified")
    write_page(path, "tradebot-tui replay", [fig])
