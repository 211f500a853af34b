"""Rolling walk-forward: the search run again on each fold, each fold's best traded on
the period after it, those out-of-sample parts joined (docs/replay-and-tune.md, "Tune").

The out-of-sample part (the last `--oos` % of the data) is cut into `folds` equal test
windows; each fold trains on the stretch of the same length as a single split's
in-sample part that ends where its test window starts. With one fold this is the single
split.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tradebot_tui.core.anchors import DAY_MS
from tradebot_tui.core.book import Trade
from tradebot_tui.tune.space import Score, Split, TuneError, score, trial_settings

MINUTE_MS = 60_000


def fold_splits(span: tuple[int, int], folds: int, oos_pct: float, window_s: int) -> list[Split]:
    """Each fold's training part [start, cut) and test part [cut, end], on whole minutes.

    Raises:
        TuneError: a part would be shorter than the anchor window plus a day.
    """
    if folds < 1:
        raise TuneError(f"--folds {folds}: must be at least 1")
    if not 0 < oos_pct < 100:
        raise TuneError(f"--oos {oos_pct:g}: must be above 0 and below 100 (% of the data)")
    start, end = span
    length = end - start
    test = round(length * oos_pct / 100) // folds
    test -= test % MINUTE_MS
    train = length - test * folds
    train -= train % MINUTE_MS
    need = window_s * 1000 + DAY_MS
    for name, size in (("training", train), ("test", test)):
        if size < need:
            raise TuneError(
                f"data too short for {folds} folds: each {name} part is "
                f"{size / 3_600_000:.1f} h but needs {need / 3_600_000:.1f} h (the anchor "
                "window plus a day); give more data, fewer --folds or another --oos"
            )
    splits = []
    for k in range(folds):
        first = start + k * test
        cut = first + train
        last = end if k == folds - 1 else cut + test - 1
        splits.append(Split(first, cut, last))
    return splits


def joined_out_of_sample(
    data: Any, base: Any, folds: Sequence[tuple[Split, dict[str, Any]]], initial: Decimal
) -> tuple[list[Trade], Score]:
    """The trades of each fold's best settings over that fold's test part, in order, and
    their figures as one window (each part replayed with the starting budget)."""
    trades: list[Trade] = []
    for split, params in folds:
        settings = trial_settings(base, params)
        run = data.replay(
            settings.strategy_params(),
            quote=settings.budget.quote,
            initial=settings.budget.initial,
            from_ms=split.cut,
            to_ms=split.end,
        )
        trades.extend(run.trades)
    first, last = folds[0][0].cut, folds[-1][0].end
    return trades, score(trades, initial, first, last)
