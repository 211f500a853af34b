"""`tradebot-tui replay`: the strategy over recorded or historical data, headless (a
report and the trades file) or in the app (`--tui`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tradebot_tui.cli import history_args
from tradebot_tui.cli.common import (
    EXIT_OK,
    UsageError,
    parse_date,
    settings_lines,
)
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.store import load_settings


def add_parser(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="run the strategy headless over recorded or historical data",
        description="Replay tick CSV, freqtrade OHLCV (.feather/.json), Binance Vision kline "
        "CSV and tradebot recordings through the trading core with paper fills. Several "
        "files are merged in time order. Dates are UTC: 2026-03-25, 2026-03-25T14:30 or "
        "epoch milliseconds; a --to date without a time includes that whole day.",
    )
    replay.add_argument("paths", nargs="*", metavar="PATH", help="data files to replay")
    history_args.add_arguments(replay, timerange=True)
    replay.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="config file to use"
    )
    replay.add_argument("--trades-out", metavar="FILE", help="write the closed trades as CSV")
    replay.add_argument(
        "--plot",
        metavar="FILE.html",
        help="draw equity, drawdown and each pair's price, anchor, trigger, entries and "
        "exits in one HTML page (needs the extra: pip install -e '.[plot]')",
    )
    replay.add_argument(
        "--export",
        metavar="FILE.json",
        help="write the whole report (summary, tables, figures) as JSON",
    )
    replay.add_argument("--from", dest="from_date", metavar="DATE", help="trade from this time on")
    replay.add_argument("--to", dest="to_date", metavar="DATE", help="trade up to this time")
    replay.add_argument(
        "--tui",
        action="store_true",
        help="watch the replay in the app (r pause, n step, + faster, - slower)",
    )
    replay.add_argument(
        "--speed",
        type=float,
        default=60.0,
        metavar="X",
        help="with --tui: replay time per wall-clock second (default 60: a minute a second)",
    )
    replay.add_argument(
        "--paused", action="store_true", help="with --tui: start paused (n steps a minute)"
    )
    replay.set_defaults(func=run)


def run(args: argparse.Namespace, locations: Locations) -> int:

    from tradebot_tui.data.feather import open_candle_stream
    from tradebot_tui.data.files import read_file
    from tradebot_tui.data.series import series_span, span_text
    from tradebot_tui.data.trades_csv import write_trades
    from tradebot_tui.replay.report import report_text
    from tradebot_tui.replay.runner import report_lines, run_replay

    settings = load_settings(locations.config_file, required=locations.config_explicit)
    paths = history_args.data_paths(args, locations)
    from_ms = None if args.from_date is None else parse_date(args.from_date, "--from")
    to_ms = None if args.to_date is None else parse_date(args.to_date, "--to", end=True)
    timerange = history_args.timerange_ms(args)
    if timerange is not None:
        from_ms, to_ms = timerange
    if from_ms is not None and to_ms is not None and to_ms < from_ms:
        raise UsageError(f"--to {args.to_date} is before --from {args.from_date}")
    trades_out = Path(args.trades_out) if args.trades_out else None
    if trades_out is not None and trades_out.is_dir():
        raise UsageError(f"--trades-out {trades_out} is a directory")
    if args.tui:
        if trades_out is not None or args.export or args.plot:
            raise UsageError(
                "--trades-out, --export and --plot are for the headless replay; drop them or --tui"
            )
        if not 0 < args.speed <= 1_000_000:
            raise UsageError(f"--speed {args.speed:g}: must be above 0 and at most 1000000")
        return replay_tui(
            args, settings, locations, paths, [read_file(p) for p in paths], from_ms, to_ms
        )
    # Feather candle files are streamed (a chunk at a time: memory flat whatever the
    # span); any other input is read whole.
    series: list[Any] = [open_candle_stream(p) or read_file(p) for p in paths]
    result = run_replay(
        series,
        settings.strategy_params(),
        quote=settings.budget.quote,
        initial=settings.budget.initial,
        from_ms=from_ms,
        to_ms=to_ms,
    )
    if result.ticks == 0:
        raise UsageError(
            f"no ticks to trade between {args.from_date or args.timerange or 'the start'} "
            f"and {args.to_date or 'the end'}; the data covers "
            f"{span_text(series_span(series))}"
        )
    quote = settings.budget.quote
    full = full_report(result, series, settings)
    for line in settings_lines(locations, settings) + report_lines(result, quote):
        print(line)
    for line in report_text(full, quote):
        print(line)
    if args.export:
        export(Path(args.export), result, full, settings, locations, paths)
    if args.plot:
        plot(Path(args.plot), result, series, settings, full)
    if trades_out is not None:
        try:
            write_trades(trades_out, result.trades)
        except OSError as exc:
            raise UsageError(f"--trades-out {trades_out}: {exc.strerror or exc}") from None
        print(f"trades written to {trades_out}")
    return EXIT_OK


def full_report(result: Any, series: list[Any], settings: Settings) -> Any:
    """The tables and figures of a finished replay (see replay.report)."""
    from tradebot_tui.replay.report import build, first_and_last_prices

    first = result.first_ts_ms if result.first_ts_ms is not None else 0
    last = result.last_ts_ms if result.last_ts_ms is not None else first
    market = first_and_last_prices(series, first, last)
    return build(result.trades, settings.budget.initial, first, last, market)


def export(
    path: Path,
    result: Any,
    full: Any,
    settings: Settings,
    locations: Locations,
    paths: list[Path],
) -> None:
    """Write the report as JSON (written whole, then renamed into place)."""
    import json
    import os

    body = {
        "config": str(locations.config_file) if locations.config_file.exists() else None,
        "data": [str(p) for p in paths],
        "quote": settings.budget.quote,
        "symbols": result.symbols,
        "ticks": result.ticks,
        "fees": float(result.stats.fees),
        "still_open": [
            {"symbol": p.symbol, "qty": str(p.qty), "entry_price": str(p.entry_price)}
            for p in result.open_positions
        ],
        **full.as_dict(),
    }
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(json.dumps(body, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"--export {path}: {exc.strerror or exc}") from None
    print(f"report written to {path}")


def plot(path: Path, result: Any, series: list[Any], settings: Settings, full: Any) -> None:
    """The replay's HTML plot (a streamed file is read again, a chunk at a time)."""
    from tradebot_tui.plot.html import PlotError
    from tradebot_tui.plot.replay_plot import write_replay_plot

    try:
        write_replay_plot(
            path,
            series,
            result.symbols,
            result.trades,
            settings.strategy_params(),
            float(settings.budget.initial),
            settings.budget.quote,
            full.start_ms,
            full.end_ms,
        )
    except PlotError as exc:
        raise UsageError(str(exc)) from None
    print(f"plot written to {path}")


def replay_tui(
    args: argparse.Namespace,
    settings: Settings,
    locations: Locations,
    paths: list[Path],
    series: list[Any],
    from_ms: int | None,
    to_ms: int | None,
) -> int:
    """The app over a replay: the live engine, paper fills, ticks paced by `--speed`."""

    from tradebot_tui.cli.run import run_engine
    from tradebot_tui.engine.replay_source import ReplaySource
    from tradebot_tui.replay.runner import check_quote
    from tradebot_tui.wiring.replay import replay_engine

    check_quote(series, settings.budget.quote)
    try:
        source = ReplaySource(
            series, speed=args.speed, from_ms=from_ms, to_ms=to_ms, paused=args.paused
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    make_engine = replay_engine(settings, source)
    files = ", ".join(p.name for p in paths)
    keys_note = f"replaying {files} with paper fills; API keys are not used"
    return run_engine(settings, locations, make_engine, keys_note, replay=True)
