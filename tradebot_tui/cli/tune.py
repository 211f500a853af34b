"""`tradebot-tui tune`: search settings over replays; `tune apply` writes a trial's settings.

Bad input (a range, a setting, data too short for the split, a Ray address that does not
answer) is checked before the study is created or touched: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tradebot_tui.cli import history_args, tune_studies
from tradebot_tui.cli.common import settings_lines
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.store import load_settings

# The parser is built at every start of the app: the tune modules are imported by the
# tune command alone (tests/test_cli_tune.py checks that the help names every objective).

EXIT_OK, EXIT_INTERRUPTED = 0, 130


def add_parser(commands: Any) -> None:
    tune = commands.add_parser(
        "tune",
        help="search strategy and exit settings over replays (Optuna); `tune apply N` "
        "writes trial N's settings to the config",
        description="Searches settings with Optuna over exact replays of the data: each "
        "trial trades as `replay` would. The data is split by time; the objective is scored "
        "in-sample and every result shows the out-of-sample figures beside it. Studies live "
        "in SQLite in the data dir: Ctrl+C leaves one resumable (--resume). "
        "`tune apply TRIAL` writes a trial's settings to the config file.",
    )
    tune.add_argument("paths", nargs="*", metavar="DATA", help="data files (as for replay)")
    history_args.add_arguments(tune, timerange=True)
    tune.add_argument("--trials", type=int, default=100, metavar="N", help="trials to run")
    tune.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=LOW:HIGH",
        help="search this setting over this range (repeatable; e.g. exits.stop_loss_pct=1:8)",
    )
    tune.add_argument(
        "--space", metavar="FILE", help="TOML file of ranges: [exits] stop_loss_pct = [1, 8]"
    )
    tune.add_argument(
        "--objective",
        default="pnl_dd",
        metavar="NAME",
        help="what to maximise in-sample: pnl_dd (pnl over max drawdown, the default), pnl "
        "(total pnl), sharpe (Sharpe ratio of daily returns), sortino (Sortino ratio of "
        "daily returns), calmar (annual return over max drawdown) or profit_factor (the "
        "winners' profit over the losers' loss)",
    )
    tune.add_argument(
        "--max-drawdown",
        type=float,
        metavar="PCT",
        help="a constraint: trials whose in-sample drawdown is larger are pruned (with "
        "--objective pnl: the most pnl within that drawdown)",
    )
    tune.add_argument(
        "--min-trades",
        type=int,
        default=5,
        metavar="N",
        help="trials with fewer in-sample trades are pruned (default 5)",
    )
    tune.add_argument(
        "--oos",
        type=float,
        default=30.0,
        metavar="PCT",
        help="the last PCT %% of the data is out-of-sample (default 30)",
    )
    tune.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: one per core)"
    )
    tune.add_argument(
        "--ray", metavar="ADDRESS", help="run trials on this Ray cluster (host:port) instead"
    )
    tune.add_argument("--study", default="default", metavar="NAME", help="study name")
    tune.add_argument("--resume", action="store_true", help="go on with an existing study")
    tune.add_argument("--seed", type=int, default=1, help="sampler seed (default 1)")
    tune.add_argument(
        "--batch",
        type=int,
        default=8,
        metavar="N",
        help="trials asked at once (default 8); the same seed and batch give the same study "
        "whatever runs it",
    )
    tune.add_argument("--top", type=int, default=10, metavar="N", help="rows of the table")
    tune.add_argument(
        "--folds",
        type=int,
        default=1,
        metavar="K",
        help="rolling walk-forward: the last --oos %% cut into K test windows, the search run "
        "again on the stretch before each (studies NAME-fold1 ...), the test parts joined",
    )
    tune.add_argument(
        "--plot",
        metavar="FILE.html",
        help="afterwards, draw the study: optimisation history, importances, a contour of "
        "two settings (the --heatmap pair, else the first two; needs: pip install -e '.[plot]')",
    )
    tune.add_argument("--tui", action="store_true", help="watch the search in the app")
    tune.add_argument(
        "--heatmap",
        metavar="KEY,KEY",
        help="with --tui: the two settings of the heatmap (default: the first two searched)",
    )
    tune.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="config file to use"
    )
    tune.set_defaults(func=run)


def run(args: argparse.Namespace, locations: Locations) -> int:
    if args.paths[:1] and args.paths[0] in tune_studies.PARSERS:  # through build_parser()
        parser = tune_studies.PARSERS[args.paths[0]]()
        sub = parser.parse_args(args.paths[1:])
        return int(sub.func(sub, locations))
    from tradebot_tui.tune import report as tune_report
    from tradebot_tui.tune import study as tune
    from tradebot_tui.tune import workers as tune_workers
    from tradebot_tui.tune.space import TuneError

    if args.trials < 1:
        raise TuneError(f"--trials {args.trials}: must be at least 1")
    if args.batch < 1:
        raise TuneError(f"--batch {args.batch}: must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise TuneError(f"--workers {args.workers}: must be at least 1")
    if args.resume and (
        args.paths or args.pairs or args.param or args.space or args.max_drawdown is not None
    ):
        raise TuneError(
            "--resume goes on with the study's own data, space and constraints; drop the "
            "DATA, --pairs, --param, --space and --max-drawdown arguments"
        )
    if not args.resume and not args.paths and not args.pairs:
        raise TuneError(
            "give the data files to tune on (as for replay), --pairs to read downloaded "
            "ones, or --resume"
        )
    storage = tune.open_storage(locations.data_dir)
    if args.folds != 1:
        from tradebot_tui.cli.tune_folds import run_folds

        return run_folds(
            args,
            locations,
            storage,
            new_setup=new_setup,
            make_runner=make_runner,
            within_timerange=within_timerange,
        )
    with tune.study_lock(locations.data_dir, args.study):
        if args.resume:
            study, setup = tune.load_study(storage, args.study)
            data = tune_workers.load_data(setup.paths)
        else:
            setup, data = new_setup(args, locations, storage)
            study = None
        heat = heatmap_keys(args.heatmap, setup.knobs) if args.tui else None
        runner = make_runner(args, setup, data)
        try:
            if study is None:
                study = tune.create_study(storage, args.study, setup)
            where = (
                f"as stored with study {args.study!r} (from {setup.config or 'the defaults'})"
                if args.resume
                else None
            )
            for line in settings_lines(locations, setup.settings, where=where):
                print(line, file=sys.stderr)
            print(
                f"study {args.study!r}: {args.trials} trials on {runner.workers} "
                f"{'Ray CPUs' if args.ray else 'worker(s)'}, objective {setup.objective}, "
                f"in {locations.data_dir / tune.STUDY_DB}",
                file=sys.stderr,
            )
            if heat is not None:
                from tradebot_tui.ui.tune_app import run_tune_app

                code = run_tune_app(study, setup, runner, args.trials, heat, args.study)
            else:
                try:
                    tune.run_trials(study, setup, runner, args.trials, tune_report.ProgressLine())
                    code = EXIT_OK
                except KeyboardInterrupt:
                    code = EXIT_INTERRUPTED
        finally:
            runner.close()
        print_results(study, setup, args.study, args.top)
        if args.plot:
            plot_study(Path(args.plot), study, setup, args)
    if code == EXIT_INTERRUPTED:
        print(
            f"interrupted; the study is saved: `tradebot-tui tune --resume --study {args.study}` "
            "goes on",
            file=sys.stderr,
        )
    return code


def new_setup(
    args: argparse.Namespace, locations: Locations, storage: Any, *, check_name: bool = True
) -> tuple[Any, Any]:
    """Check every input, then the study's name, then load the data; nothing is stored."""
    from tradebot_tui.tune import study as tune
    from tradebot_tui.tune import workers as tune_workers
    from tradebot_tui.tune.space import TuneError, build_space, check_objective, make_split

    settings = load_settings(locations.config_file, required=locations.config_explicit)
    knobs = build_space(args.param, Path(args.space) if args.space else None)
    objective = check_objective(args.objective)
    if args.min_trades < 0:
        raise TuneError(f"--min-trades {args.min_trades}: must be 0 or more")
    if args.max_drawdown is not None and not 0 < args.max_drawdown < 100:
        raise TuneError(f"--max-drawdown {args.max_drawdown:g}: must be above 0 and below 100")
    files = history_args.data_paths(args, locations)
    for p in files:
        if not p.is_file():
            raise TuneError(f"{p}: no such data file")
    if check_name:
        tune.check_name_free(storage, args.study)  # before the data is read
    paths = tuple(str(p.resolve()) for p in files)
    data = tune_workers.load_data(paths)
    data.check_quote(settings.budget.quote)
    windows = [settings.strategy.window_s] + [
        int(k.high) for k in knobs if k.key == "strategy.window_s"
    ]
    split = make_split(within_timerange(args, data.span), args.oos, max(windows))
    setup = tune_workers.Setup(
        paths=paths,
        knobs=tuple(knobs),
        objective=objective,
        min_trades=args.min_trades,
        max_drawdown_pct=args.max_drawdown,
        oos_pct=args.oos,
        seed=args.seed,
        batch=args.batch,
        split=split,
        base=tune_workers.base_dict(settings),
        config=str(locations.config_file.resolve()) if locations.config_file.exists() else "",
    )
    return setup, data


def plot_study(path: Path, study: Any, setup: Any, args: argparse.Namespace) -> None:
    from tradebot_tui.plot.html import PlotError
    from tradebot_tui.plot.tune_plot import write_tune_plot

    keys = [k.key for k in setup.knobs]
    if args.heatmap:
        chosen = [k.strip() for k in args.heatmap.split(",")]
        keys = [*chosen, *(k for k in keys if k not in chosen)]
    try:
        write_tune_plot(path, study, args.study, keys)
    except PlotError as exc:
        print(f"tradebot-tui: error: {exc}", file=sys.stderr)
        return
    print(f"plot written to {path}", file=sys.stderr)


def within_timerange(
    args: argparse.Namespace, span: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The data's span, or the part of it `--timerange` asks for (its split's bounds)."""
    from tradebot_tui.data.history import HistoryError, parse_timerange, utc_minute
    from tradebot_tui.tune.space import TuneError

    if not args.timerange or span is None:
        return span
    try:
        start, end = parse_timerange(args.timerange)
    except HistoryError as exc:
        raise TuneError(str(exc)) from None
    first, last = max(span[0], start), span[1] if end is None else min(span[1], end - 1)
    if first >= last:
        raise TuneError(
            f"--timerange {args.timerange}: the data covers {utc_minute(span[0])} to "
            f"{utc_minute(span[1])} UTC, nothing of it is in that range"
        )
    return first, last


def make_runner(args: argparse.Namespace, setup: Any, data: Any) -> Any:
    from tradebot_tui.tune import workers as tune_workers

    if args.ray:
        return tune_workers.RayCluster(setup, args.ray, data)
    workers = args.workers or os.cpu_count() or 1
    if workers == 1:
        return tune_workers.InProcess(setup, data)
    return tune_workers.LocalPool(setup, workers, data)


def heatmap_keys(text: str | None, knobs: Any) -> tuple[str, str]:
    from tradebot_tui.tune.space import TuneError

    keys = [k.key for k in knobs]
    if text is None:
        if len(keys) < 2:
            raise TuneError("the heatmap needs two searched settings; search at least two")
        return keys[0], keys[1]
    chosen = [t.strip() for t in text.split(",")]
    if len(chosen) != 2 or chosen[0] == chosen[1]:
        raise TuneError(f"--heatmap {text!r}: expected two different settings, KEY,KEY")
    for key in chosen:
        if key not in keys:
            raise TuneError(f"--heatmap: {key!r} is not searched (searched: {', '.join(keys)})")
    return chosen[0], chosen[1]


def print_results(study: Any, setup: Any, name: str, top: int) -> None:
    from tradebot_tui.data.series import utc_text
    from tradebot_tui.tune import report as tune_report

    found = tune_report.rows(study)
    split = setup.split
    print(
        f"in-sample {utc_text(split.start)} to {utc_text(split.cut - 1)} UTC; "
        f"out-of-sample from {utc_text(split.cut)} UTC ({setup.oos_pct:g} %)"
    )
    for line in tune_report.table_lines(found, setup.knobs, setup.objective, top):
        print(line)
    best = next((r for r in found if r.value is not None), None)
    if best is None:
        print(f"no trial met the constraints ({setup.constraints()}); widen the ranges")
        return
    for line in tune_report.few_trades_warnings(found[:top], best):
        print(line)
    when = utc_text(split.cut)[:16].replace(" ", "T")
    print(
        f"best: trial #{best.number}; `tradebot-tui tune apply {best.number} --study {name}` "
        f"writes its settings to the config, then `tradebot-tui replay DATA --from {when}` "
        "gives its out-of-sample trades"
    )
