"""`tune --folds K`: rolling walk-forward, each fold a study of its own
(`<study>-fold1` ...), the out-of-sample parts joined (see tune.walk_forward)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from typing import Any

from tradebot_tui.cli.common import settings_lines
from tradebot_tui.config.locations import Locations

EXIT_OK, EXIT_INTERRUPTED = 0, 130


def run_folds(
    args: argparse.Namespace,
    locations: Locations,
    storage: Any,
    *,
    new_setup: Callable[..., tuple[Any, Any]],
    make_runner: Callable[[argparse.Namespace, Any, Any], Any],
    within_timerange: Callable[[argparse.Namespace, Any], Any],
) -> int:
    """The folds, one after another (`tune`'s own setup, runner and period given)."""
    from tradebot_tui.data.series import utc_text
    from tradebot_tui.tune import report as tune_report
    from tradebot_tui.tune import study as tune
    from tradebot_tui.tune.space import TuneError
    from tradebot_tui.tune.walk_forward import fold_splits, joined_out_of_sample

    if args.resume or args.tui:
        raise TuneError("--folds runs new studies: drop --resume and --tui")
    names = [f"{args.study}-fold{k + 1}" for k in range(args.folds)]
    for name in names:
        tune.check_name_free(storage, name)
    setup, data = new_setup(args, locations, storage, check_name=False)
    windows = [int(k.high) for k in setup.knobs if k.key == "strategy.window_s"]
    window = max([setup.settings.strategy.window_s, *windows])
    span = within_timerange(args, data.span)
    assert span is not None
    splits = fold_splits(span, args.folds, args.oos, window)
    for line in settings_lines(locations, setup.settings):
        print(line, file=sys.stderr)
    best: list[tuple[Any, dict[str, Any]]] = []
    number = -1
    code = EXIT_OK
    for k, (name, split) in enumerate(zip(names, splits, strict=True), start=1):
        fold = dataclasses.replace(setup, split=split)
        with tune.study_lock(locations.data_dir, name):
            runner = make_runner(args, fold, data)
            try:
                study = tune.create_study(storage, name, fold)
                print(
                    f"fold {k}/{args.folds}, study {name!r}: {args.trials} trials, trained "
                    f"{utc_text(split.start)[:16]} to {utc_text(split.cut - 1)[:16]}, tested "
                    f"to {utc_text(split.end)[:16]} UTC",
                    file=sys.stderr,
                )
                try:
                    tune.run_trials(study, fold, runner, args.trials, tune_report.ProgressLine())
                except KeyboardInterrupt:
                    code = EXIT_INTERRUPTED
            finally:
                runner.close()
        found = tune_report.rows(study)
        top = next((r for r in found if r.value is not None), None)
        if top is None:
            print(f"fold {k}: no trial met the constraints ({fold.constraints()})")
        else:
            print(
                f"fold {k}: best #{top.number} in-sample {fold.objective} "
                f"{top.value:+.3f} ({int(top.inside['trades'])} trades); tested "
                f"{utc_text(split.cut)[:16]} to {utc_text(split.end)[:16]} UTC: "
                f"{int(top.outside['trades'])} trades, pnl {top.outside['pnl']:+.2f}"
            )
            best.append((split, top.params))
            number = top.number
        if code == EXIT_INTERRUPTED:
            print("interrupted; the folds run so far are saved as studies", file=sys.stderr)
            return code
    if len(best) < len(splits):
        print("walk-forward: a fold had no trial meeting the constraints; nothing joined")
        return EXIT_OK
    _trades, joined = joined_out_of_sample(
        data, setup.settings, best, setup.settings.budget.initial
    )
    print(
        f"walk-forward out-of-sample, {args.folds} folds joined, {utc_text(splits[0].cut)[:16]} "
        f"to {utc_text(splits[-1].end)[:16]} UTC: {joined.trades} trades, pnl "
        f"{joined.pnl:+.2f}, max drawdown {joined.max_drawdown:.2f} "
        f"({joined.max_drawdown_pct:.2f} %), pnl/dd {joined.pnl_dd:+.3f}, sharpe "
        f"{joined.sharpe:+.3f}, sortino {joined.sortino:+.3f}"
    )
    print(
        f"the last fold's best is the one to trade next: `tradebot-tui tune apply {number} "
        f"--study {names[-1]}`"
    )
    return EXIT_OK
