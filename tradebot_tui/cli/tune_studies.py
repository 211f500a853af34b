"""`tune apply`, `tune list` and `tune show`: the finished studies, each command with a
parser (and a --help) of its own, since `tune` itself takes data files as arguments."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from tradebot_tui.cli.common import EXIT_OK
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.store import load_settings, save_settings
from tradebot_tui.config.validate import ConfigError, diff
from tradebot_tui.core.errors import TradebotError


def add_apply_parser() -> argparse.ArgumentParser:
    """`tune apply`'s own parser (and help): it is not a search."""
    parser = argparse.ArgumentParser(
        prog="tradebot-tui tune apply",
        description="Write a finished trial's settings to a config file: checked by the "
        "config's validation, shown as the changes they make, saved atomically. Without "
        "--config, the config file the study ran with.",
    )
    parser.add_argument("trial", type=int, metavar="TRIAL", help="the trial's number")
    parser.add_argument("--study", default="default", metavar="NAME", help="study name")
    parser.add_argument("--config", metavar="FILE", help="the config file to write")
    parser.set_defaults(func=cmd_apply)
    return parser


def subcommand(argv: list[str]) -> tuple[argparse.ArgumentParser, list[str]] | None:
    """The parser and arguments of `tune apply|list|show` when `argv` asks for one of them
    (global options before the command included), else None."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        takes_value = argv[i] in ("--config", "--inject-engine-crash")
        i += 2 if takes_value else 1
    if argv[i : i + 1] == ["tune"] and len(argv) > i + 1 and argv[i + 1] in PARSERS:
        return PARSERS[argv[i + 1]](), argv[:i] + argv[i + 2 :]
    return None


def cmd_apply(args: argparse.Namespace, locations: Locations) -> int:
    """Write a trial's settings to the config: validated, shown as a diff, saved atomically."""
    from tradebot_tui.config.locations import locate
    from tradebot_tui.tune import study as tune
    from tradebot_tui.tune.space import TuneError, trial_settings

    number = args.trial
    db = locations.data_dir / tune.STUDY_DB
    if not db.exists():
        raise TuneError(f"no studies yet ({db} does not exist); run tune first")
    study, setup = tune.load_study_readonly(tune.open_storage(locations.data_dir), args.study)
    if not locations.config_explicit and setup.config:
        locations = locate(setup.config)  # the config the study ran with
    params = tune.trial_params(study, number)
    old = load_settings(locations.config_file, required=False)  # apply may create it
    try:
        new = trial_settings(old, params)
    except ConfigError as exc:
        raise TuneError(f"trial #{number}: {exc}") from None
    changes = diff(old, new)
    searched = {knob.key for knob in setup.knobs}
    differ = [
        key
        for key, _a, _b in diff(setup.settings, old)
        if key.split(".")[0] in SECTIONS_THAT_TRADE and key not in searched
    ]
    if not changes:
        print(f"{locations.config_file} already has trial #{number}'s settings")
    else:
        try:
            locations.config_file.parent.mkdir(parents=True, exist_ok=True)
            save_settings(locations.config_file, new)
        except OSError as exc:
            raise TradebotError(f"{locations.config_file}: {exc.strerror or exc}") from None
        for key, a, b in changes:
            print(f"{key}: {a} -> {b}")
        print(f"trial #{number} of study {args.study!r} written to {locations.config_file}")
    if differ:
        print(
            "note: the study ran with other values of "
            + ", ".join(differ)
            + " than this config has; its figures hold for the study's values"
        )
    return EXIT_OK


SECTIONS_THAT_TRADE = ("strategy", "risk", "exits", "budget")


def _storage(locations: Locations) -> object:
    from tradebot_tui.tune import study as tune
    from tradebot_tui.tune.space import TuneError

    db = locations.data_dir / tune.STUDY_DB
    if not db.exists():
        raise TuneError(f"no studies yet ({db} does not exist); run tune first")
    return tune.open_storage(locations.data_dir)


def add_list_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradebot-tui tune list",
        description="Every study in the data dir: its trials, objective, best trial and "
        "that trial's in-sample and out-of-sample figures, and the data it ran on.",
    )
    parser.add_argument("--config", metavar="FILE", help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_list)
    return parser


def cmd_list(args: argparse.Namespace, locations: Locations) -> int:
    from tradebot_tui.data.series import utc_text
    from tradebot_tui.tune import report as tune_report
    from tradebot_tui.tune import study as tune
    from tradebot_tui.tune.space import TuneError

    storage = _storage(locations)
    names = tune.study_names(storage)
    print(
        f"{'study':<16}{'trials':>8}{'pruned':>8}  {'objective':<14}{'best':>6}"
        f"{'in trades':>10}{'in value':>10}{'out trades':>11}{'out pnl':>10}  data"
    )
    for name in names:
        try:
            study, setup = tune.load_study_readonly(storage, name)
        except TuneError:
            print(f"{name:<16}  (not a tradebot-tui study)")
            continue
        found = tune_report.rows(study)
        pruned = sum(1 for r in found if r.value is None)
        best = next((r for r in found if r.value is not None), None)
        files = ", ".join(p.rsplit("/", 1)[-1] for p in setup.paths)
        period = f"{utc_text(setup.split.start)[:10]} to {utc_text(setup.split.end)[:10]}"
        if best is None:
            cells = f"{'-':>6}{'-':>10}{'-':>10}{'-':>11}{'-':>10}"
        else:
            cells = (
                f"{'#' + str(best.number):>6}{int(best.inside['trades']):>10}"
                f"{best.inside[setup.objective]:>+10.3f}{int(best.outside['trades']):>11}"
                f"{best.outside['pnl']:>+10.2f}"
            )
        print(
            f"{name:<16}{len(found):>8}{pruned:>8}  {setup.objective:<14}{cells}  "
            f"{files} ({period})"
        )
    if not names:
        print("no studies yet")
    return EXIT_OK


def add_show_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradebot-tui tune show",
        description="One finished trial: the settings it tried (against the study's base), "
        "its in-sample and out-of-sample figures, and how to apply it.",
    )
    parser.add_argument("trial", type=int, metavar="TRIAL", help="the trial's number")
    parser.add_argument("--study", default="default", metavar="NAME", help="study name")
    parser.add_argument("--config", metavar="FILE", help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_show)
    return parser


def cmd_show(args: argparse.Namespace, locations: Locations) -> int:
    from tradebot_tui.data.series import utc_text
    from tradebot_tui.tune import study as tune
    from tradebot_tui.tune.space import FEW_TRADES, trial_settings

    study, setup = tune.load_study_readonly(_storage(locations), args.study)
    params = tune.trial_params(study, args.trial)  # checks the number and the state
    trial = study.get_trials(deepcopy=False)[args.trial]
    scores = trial.user_attrs.get("scores") or {}
    state = "pruned: " + setup.constraints() + " not met" if trial.value is None else "complete"
    print(f"trial #{args.trial} of study {args.study!r}: {state}")
    base = setup.settings
    for key, old, new in diff(base, trial_settings(base, params)):
        print(f"  {key} = {new} (study's base {old})")
    split = setup.split
    parts = (
        ("in-sample", scores.get("in", {}), split.start, split.cut - 1),
        ("out-of-sample", scores.get("out", {}), split.cut, split.end),
    )
    for name, s, first, last in parts:
        if not s:
            continue
        extra = "".join(
            f", {key} {s[key]:.3f}"
            for key in ("sortino", "calmar", "profit_factor")
            if key in s  # studies before these figures stored none
        )
        print(
            f"{name:<14} {utc_text(first)[:16]} to {utc_text(last)[:16]} UTC: "
            f"{int(s['trades'])} trades, pnl {s['pnl']:+.4f}, max drawdown "
            f"{s['max_drawdown']:.4f}, pnl/dd {s['pnl_dd']:.3f}, sharpe {s['sharpe']:.3f}{extra}"
        )
        if int(s["trades"]) < FEW_TRADES:
            print(f"warning: {int(s['trades'])} {name} trades: these figures rest on little")
    print(f"`tradebot-tui tune apply {args.trial} --study {args.study}` writes these settings")
    return EXIT_OK


PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "apply": add_apply_parser,
    "list": add_list_parser,
    "show": add_show_parser,
}
