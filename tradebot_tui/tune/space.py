"""What `tune` searches and how it scores: the space, the split and the objectives.

Nothing here imports Optuna: the worker side (evaluating one trial) and the command line's
checks of bad input need none of it.
"""

from __future__ import annotations

import math
import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradebot_tui.config.settings import Settings
from tradebot_tui.config.validate import ConfigError, FieldInfo, fields, from_dict, to_dict
from tradebot_tui.core.anchors import DAY_MS
from tradebot_tui.core.book import Trade
from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.stats import trade_stats

# The sections whose numbers a search may set: when to buy, how much risk, when to sell.
TUNABLE_SECTIONS = ("strategy", "risk", "exits")
OBJECTIVES = {
    "pnl": "total pnl (quote)",
    "pnl_dd": "pnl over max drawdown",
    "sharpe": "Sharpe ratio of daily returns (annualised)",
    "sortino": "Sortino ratio of daily returns (annualised)",
    "calmar": "annualised return over max drawdown",
    "profit_factor": "winning trades' profit over losing trades' loss",
}
# Fewer trades than this in a part of the split: its figures are shown with a warning.
FEW_TRADES = 10


class TuneError(TradebotError):
    """Bad input to `tune`: printed as one line, exit status 2, no study touched."""


@dataclass(frozen=True, slots=True)
class Knob:
    """One searched setting: a config key and its range (both ends included)."""

    key: str  # "exits.take_profit_pct"
    low: float
    high: float
    integer: bool = False
    log: bool = False

    def text(self) -> str:
        fmt = "{:.0f}" if self.integer else "{:g}"
        return f"{self.key}={fmt.format(self.low)}:{fmt.format(self.high)}"


DEFAULT_SPACE: tuple[Knob, ...] = (
    Knob("strategy.trigger_pct", 1.0, 5.0),
    Knob("exits.take_profit_pct", 0.5, 5.0),
    Knob("exits.stop_loss_pct", 1.0, 8.0),
    Knob("exits.trailing_activation_pct", 0.5, 5.0),
    Knob("exits.trailing_distance_pct", 0.2, 3.0),
    Knob("exits.max_hold_s", 1800, 86400, integer=True, log=True),
)


def _tunable() -> dict[str, FieldInfo]:
    return {
        info.path: info
        for info in fields()
        if info.section in TUNABLE_SECTIONS and info.type in (int, float)
    }


def make_knob(key: str, low: Any, high: Any, where: str) -> Knob:
    """A knob for `key`, its range checked against the setting's own bounds."""
    tunable = _tunable()
    info = tunable.get(key)
    if info is None:
        raise TuneError(
            f"{where}: unknown setting {key!r}; settings that can be tuned: " + ", ".join(tunable)
        )
    for end, value in (("low", low), ("high", high)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise TuneError(f"{where}: {key} {end} end must be a number, got {value!r}")
    if info.type is int and (low != int(low) or high != int(high)):
        raise TuneError(f"{where}: {key} is a whole number, got {low:g}:{high:g}")
    if low == high:
        raise TuneError(f"{where}: {key} range {low:g}:{high:g} is empty (low equals high)")
    if low > high:
        raise TuneError(f"{where}: {key} range {low:g}:{high:g} is inverted (low above high)")
    for value in (low, high):
        bad = (
            (info.ge is not None and value < info.ge)
            or (info.gt is not None and value <= info.gt)
            or (info.le is not None and value > info.le)
        )
        if bad:
            bounds = " and ".join(
                text
                for text in (
                    f">= {info.ge:g}" if info.ge is not None else "",
                    f"> {info.gt:g}" if info.gt is not None else "",
                    f"<= {info.le:g}" if info.le is not None else "",
                )
                if text
            )
            raise TuneError(f"{where}: {key} must be {bounds}{info.unit}, got {value:g}")
    # Long spans of a duration are searched on a log scale (minutes matter as much as days).
    log = info.type is int and low > 0 and high / low >= 10
    return Knob(key, float(low), float(high), integer=info.type is int, log=log)


def parse_flag(text: str) -> Knob:
    """`KEY=LOW:HIGH` from the command line."""
    key, eq, rng = text.partition("=")
    low, colon, high = rng.partition(":")
    if not eq or not colon:
        raise TuneError(f"--param {text!r}: expected KEY=LOW:HIGH, like exits.stop_loss_pct=1:8")
    try:
        lo, hi = float(low), float(high)
    except ValueError:
        raise TuneError(f"--param {text!r}: LOW and HIGH must be numbers") from None
    return make_knob(key.strip(), lo, hi, f"--param {text!r}")


def read_space_file(path: Path) -> list[Knob]:
    """A TOML space file: the config's sections, each setting a `[low, high]` pair."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TuneError(f"--space {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TuneError(f"--space {path}: not valid TOML: {exc}") from None
    knobs = []
    for section, table in data.items():
        if not isinstance(table, dict):
            raise TuneError(f"{path}: {section} must be a table like [exits], got {table!r}")
        for name, pair in table.items():
            key = f"{section}.{name}"
            if not (isinstance(pair, list) and len(pair) == 2):
                raise TuneError(f"{path}: {key} must be [low, high], got {pair!r}")
            knobs.append(make_knob(key, pair[0], pair[1], str(path)))
    if not knobs:
        raise TuneError(f"{path}: no settings to search (add e.g. [exits] stop_loss_pct = [1, 8])")
    return knobs


def build_space(flags: Sequence[str], space_file: Path | None) -> list[Knob]:
    """The space: the file's knobs, then the flags' (a flag replaces the file's range);
    the default space when neither is given."""
    knobs: dict[str, Knob] = {}
    if space_file is not None:
        knobs.update((k.key, k) for k in read_space_file(space_file))
    for flag in flags:
        knob = parse_flag(flag)
        knobs[knob.key] = knob
    return list(knobs.values()) if knobs else list(DEFAULT_SPACE)


def trial_settings(
    base: Settings | dict[str, dict[str, Any]], params: Mapping[str, float]
) -> Settings:
    """`base` (settings, or their plain data as a study stores them) with a trial's values,
    through the config's own validation."""
    source = to_dict(base) if isinstance(base, Settings) else base
    data = {section: dict(values) for section, values in source.items()}
    for key, value in params.items():
        section, _, name = key.partition(".")
        # A sampler's float may carry a binary tail (2.8200000000000003): rounded, as the
        # config file will hold it, so that a trial and `tune apply` trade alike.
        data[section][name] = round(value, 6) if isinstance(value, float) else value
    return from_dict(data, "trial settings")


# -- walk-forward -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Split:
    """In-sample [start, cut) and out-of-sample [cut, end], epoch ms."""

    start: int
    cut: int
    end: int

    @property
    def in_sample(self) -> tuple[int | None, int]:
        return None, self.cut - 1

    @property
    def out_of_sample(self) -> tuple[int, int | None]:
        return self.cut, None


def make_split(span: tuple[int, int] | None, oos_pct: float, window_s: int) -> Split:
    """Cut the data's span by time: the last `oos_pct` % is out-of-sample. Each part must
    hold a day of trading after the anchor's warm-up."""
    if not 0 < oos_pct < 100:
        raise TuneError(f"--oos {oos_pct:g}: must be above 0 and below 100 (% of the data)")
    if span is None:
        raise TuneError("the data files hold no rows")
    start, end = span
    cut = start + round((end - start) * (100 - oos_pct) / 100)
    cut -= cut % 60_000  # on a whole minute, so that `replay --from` can name it
    need = window_s * 1000 + DAY_MS
    for name, length in (("in-sample", cut - start), ("out-of-sample", end - cut)):
        if length < need:
            raise TuneError(
                f"data too short for the split: the {name} part is {length / 3_600_000:.1f} h "
                f"but needs {need / 3_600_000:.1f} h (the anchor window plus a day); give "
                "more data or change --oos"
            )
    return Split(start, cut, end)


# -- scores -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Score:
    """One window's figures for one trial."""

    trades: int
    pnl: float
    max_drawdown: float
    pnl_dd: float
    sharpe: float
    sortino: float = 0.0
    calmar: float = 0.0
    profit_factor: float = 0.0
    max_drawdown_pct: float = 0.0

    def value(self, objective: str) -> float:
        value: float = getattr(self, objective)
        return value

    def as_dict(self) -> dict[str, float]:
        return {
            "trades": self.trades,
            "pnl": self.pnl,
            "max_drawdown": self.max_drawdown,
            "max_drawdown_pct": self.max_drawdown_pct,
            "pnl_dd": self.pnl_dd,
            "sharpe": self.sharpe,
            "sortino": self.sortino,
            "calmar": self.calmar,
            "profit_factor": self.profit_factor,
        }


def score(trades: Sequence[Trade], initial: Decimal, first_ms: int, last_ms: int) -> Score:
    """Figures of a window's closed trades (docs/replay-and-tune.md, "Tune").

    A drawdown or a loss that divides is taken as at least 0.1 % of the budget (no
    division by nothing: a window without a loss or a fall scores high, not infinite).
    Daily returns count every UTC day of the window, days without an exit as 0, each over
    the equity at the day's start; ratios are annualised over 365 days.
    """
    stats = trade_stats(trades, initial)
    pnl = float(stats.pnl)
    drawdown = float(stats.max_drawdown)
    start = float(initial)
    floor = start / 1000
    by_day: dict[int, float] = defaultdict(float)
    gains = losses = 0.0
    for trade in trades:
        by_day[trade.exit_ts_ms // DAY_MS] += float(trade.pnl)
        if trade.pnl > 0:
            gains += float(trade.pnl)
        else:
            losses -= float(trade.pnl)
    days = range(first_ms // DAY_MS, last_ms // DAY_MS + 1)
    equity = start
    returns = []
    for day in days:
        gain = by_day.get(day, 0.0)
        returns.append(gain / equity if equity > 0 else 0.0)
        equity += gain
    sharpe = sortino = 0.0
    if len(returns) > 1:
        mean = sum(returns) / len(returns)
        var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
        if var > 0:
            sharpe = mean / math.sqrt(var) * math.sqrt(365)
        downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
        sortino = mean / max(downside, 0.001) * math.sqrt(365)
    growth = (start + pnl) / start if start > 0 else 0.0
    annual = growth ** (365 / len(days)) - 1 if growth > 0 else -1.0
    dd_pct = float(stats.max_drawdown_pct)
    return Score(
        trades=stats.trades,
        pnl=pnl,
        max_drawdown=drawdown,
        pnl_dd=pnl / max(drawdown, floor),
        sharpe=sharpe,
        sortino=sortino,
        calmar=annual / max(dd_pct / 100, 0.001),
        profit_factor=gains / max(losses, floor),
        max_drawdown_pct=dd_pct,
    )


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise TuneError(
            f"--objective {objective!r}: unknown; choose one of " + ", ".join(OBJECTIVES)
        )
    return objective


def base_from_dict(data: dict[str, Any]) -> Settings:
    """The study's base settings, as stored with it."""
    try:
        return from_dict(data, "the study's stored settings")
    except ConfigError as exc:
        raise TuneError(str(exc)) from None
