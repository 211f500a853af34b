"""`tune`'s results: the table of trials (in-sample and out-of-sample side by side)
and the progress line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradebot_tui.tune.space import FEW_TRADES, Knob
from tradebot_tui.tune.study import Progress, Row

if TYPE_CHECKING:
    import optuna


def rank(r: Row) -> tuple[bool, float, int]:
    """Best in-sample value first; pruned trials last; ties by trial number."""
    return (r.value is None, -(r.value or 0.0), r.number)


def rows(study: optuna.Study) -> list[Row]:
    """Every finished trial, best in-sample first (pruned ones last)."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    out = []
    for t in study.get_trials(deepcopy=False, states=states):
        scores = t.user_attrs.get("scores") or {}
        out.append(
            Row(t.number, dict(t.params), scores.get("in", {}), scores.get("out", {}), t.value)
        )
    out.sort(key=rank)
    return out


SHORT = {
    "strategy.trigger_pct": "trigger%",
    "strategy.window_s": "window_s",
    "exits.take_profit_pct": "tp%",
    "exits.stop_loss_pct": "sl%",
    "exits.trailing_activation_pct": "arm%",
    "exits.trailing_distance_pct": "trail%",
    "exits.max_hold_s": "hold_s",
    "risk.max_positions": "maxpos",
    "risk.cooldown_s": "cool_s",
}


def short(key: str) -> str:
    return SHORT.get(key, key.partition(".")[2])


def table_lines(
    study_rows: Sequence[Row], knobs: Sequence[Knob], objective: str, limit: int
) -> list[str]:
    """The best trials, in-sample and out-of-sample side by side."""
    heads = [short(k.key) for k in knobs]
    widths = [max(8, len(h)) for h in heads]
    head = "trial  " + " ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))
    side = f"{'trades':>6} {'pnl':>9} {objective:>8}"
    lines = [f"{head} | in-sample: {side} | out-of-sample: {side}"]
    for r in study_rows[:limit]:
        cells = [
            value_text(r.params.get(k.key), k).rjust(w) for k, w in zip(knobs, widths, strict=True)
        ]
        lines.append(
            f"{('#' + str(r.number)):<6} "
            + " ".join(cells)
            + " | "
            + " " * 11
            + _side(r.inside, objective)
            + " | "
            + " " * 15
            + _side(r.outside, objective)
            + ("  (too few trades)" if r.value is None else "")
        )
    return lines


def few_trades_warnings(shown: Sequence[Row], best: Row) -> list[str]:
    """Warnings for the trials shown whose figures rest on few trades in a part."""
    few = [
        r
        for r in shown
        if int(r.inside.get("trades", 0)) < FEW_TRADES
        or int(r.outside.get("trades", 0)) < FEW_TRADES
    ]
    if not few:
        return []
    lines = [
        f"warning: {len(few)} of the trials shown made fewer than {FEW_TRADES} trades in-sample "
        f"or out-of-sample ({', '.join(f'#{r.number}' for r in few[:8])}"
        f"{', ...' if len(few) > 8 else ''}): their figures rest on little"
    ]
    if best in few:
        lines.append(
            f"warning: the best trial, #{best.number}, is one of them "
            f"({int(best.inside.get('trades', 0))} in-sample, "
            f"{int(best.outside.get('trades', 0))} out-of-sample trades): more data, or "
            "--min-trades, before trusting it"
        )
    return lines


def value_text(value: float | None, knob: Knob) -> str:
    """A trial's value of a setting as the table shows it."""
    return "-" if value is None else f"{value:.0f}" if knob.integer else f"{value:.2f}"


def side_cells(s: dict[str, float], objective: str) -> tuple[str, str, str]:
    """Trades, pnl and the objective of one sample, as text."""
    if not s:
        return "-", "-", "-"
    return str(int(s["trades"])), f"{s['pnl']:+.2f}", f"{s[objective]:+.3f}"


def _side(s: dict[str, float], objective: str) -> str:
    trades, pnl, value = side_cells(s, objective)
    return f"{trades:>6} {pnl:>9} {value:>8}"


def progress_text(p: Progress, width: int = 28) -> str:
    """`[####....] 80/300 trials · 528/min · ETA 0:24 · best #43 +6.196` (no bar at width 0)."""
    filled = int(width * p.done / p.total) if p.total else width
    bar = f"[{'#' * filled}{'.' * (width - filled)}] " if width else ""
    eta = p.eta_s
    eta_text = "--:--" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}"
    best = "" if p.best is None else f" · best #{p.best[0]} {p.best[1]:+.3f}"
    return f"{bar}{p.done}/{p.total} trials · {p.per_minute:,.0f}/min · ETA {eta_text}{best}"


class ProgressLine:
    """The progress bar on stderr: redrawn in place on a terminal, every tenth otherwise."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.shown = -1

    def __call__(self, p: Progress, _batch: list[Row]) -> None:
        if self.tty:
            self.stream.write("\r" + progress_text(p))
            if p.done >= p.total:
                self.stream.write("\n")
        else:
            tenth = p.done * 10 // max(p.total, 1)
            if tenth == self.shown:
                return
            self.shown = tenth
            self.stream.write(progress_text(p) + "\n")
        self.stream.flush()


@dataclass(frozen=True, slots=True)
class Heat:
    """The best in-sample value of the trials in each cell of a grid over two settings."""

    x: Knob
    y: Knob
    cells: list[list[float | None]]  # [row (y, high to low)][column (x, low to high)]

    @property
    def span(self) -> tuple[float, float] | None:
        values = [v for row in self.cells for v in row if v is not None]
        return (min(values), max(values)) if values else None


def heat(found: Sequence[Row], x: Knob, y: Knob, columns: int = 12, lines: int = 8) -> Heat:
    """Bin the finished (not pruned) trials by two settings; keep each bin's best."""
    cells: list[list[float | None]] = [[None] * columns for _ in range(lines)]
    for r in found:
        if r.value is None or x.key not in r.params or y.key not in r.params:
            continue
        col = _bin(r.params[x.key], x, columns)
        line = lines - 1 - _bin(r.params[y.key], y, lines)
        best = cells[line][col]
        if best is None or r.value > best:
            cells[line][col] = r.value
    return Heat(x, y, cells)


def _bin(value: float, knob: Knob, count: int) -> int:
    if knob.log and knob.low > 0:
        import math

        share = math.log(value / knob.low) / math.log(knob.high / knob.low)
    else:
        share = (value - knob.low) / (knob.high - knob.low)
    return min(count - 1, max(0, int(share * count)))
