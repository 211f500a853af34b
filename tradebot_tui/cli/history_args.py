"""The data a `replay` or a `tune` reads: files named on the command line, or pairs taken
from the data dir where `download` puts them (`--pairs BTC/USDT,ETH/USDT`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tradebot_tui.cli.common import UsageError
from tradebot_tui.config.locations import Locations


def add_arguments(parser: Any, *, timerange: bool) -> None:
    parser.add_argument(
        "--pairs",
        metavar="PAIRS",
        help="read these pairs' files from the data dir (as `download` wrote them), like "
        "BTC/USDT,ETH/USDT; instead of or beside DATA files",
    )
    parser.add_argument("--timeframe", default="1m", help="with --pairs: candle length (1m)")
    parser.add_argument(
        "--exchange", default="binance", help="with --pairs: whose files (default binance)"
    )
    parser.add_argument(
        "--datadir",
        metavar="DIR",
        help="with --pairs: the folder of the files (default: the data dir's "
        "history/<exchange>, where `download` puts them)",
    )
    if timerange:
        parser.add_argument(
            "--timerange",
            metavar="START-END",
            help="UTC days as freqtrade takes them (20221101-20221201: the start of the first "
            "day up to the start of the second); instead of --from/--to",
        )


def data_paths(args: argparse.Namespace, locations: Locations) -> list[Path]:
    """The files to read: those named, then each pair's file.

    Raises:
        UsageError: no data at all, or a pair whose file is not there (with the command
            that downloads it).
    """
    from tradebot_tui.data.history import HistoryError, file_name, parse_pairs

    paths = [Path(p) for p in args.paths]
    if args.pairs is None:
        if not paths:
            raise UsageError("give the data files, or --pairs to read downloaded ones")
        return paths
    try:
        pairs = parse_pairs(args.pairs)
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    exchange = args.exchange.strip().lower()
    folder = Path(args.datadir).expanduser() if args.datadir else locations.history_dir / exchange
    missing = []
    for pair in pairs:
        path = folder / file_name(pair, args.timeframe)
        if path.is_file():
            paths.append(path)
        else:
            missing.append(pair)
    if missing:
        raise UsageError(
            f"no {args.timeframe} candles of {', '.join(missing)} in {folder}: "
            f"tradebot-tui download --pairs {','.join(missing)} --timeframe {args.timeframe} "
            "fetches them"
        )
    return paths


def timerange_ms(args: argparse.Namespace) -> tuple[int | None, int | None] | None:
    """`--timerange` as (from, to) in the way `--from`/`--to` give them (`to` is the last
    millisecond included); None when it is not given.

    Raises:
        UsageError: a bad range, or one given beside --from or --to.
    """
    if not getattr(args, "timerange", None):
        return None
    from tradebot_tui.data.history import HistoryError, parse_timerange

    if args.from_date is not None or args.to_date is not None:
        raise UsageError("--timerange or --from/--to: one way of giving the period, not both")
    try:
        start, end = parse_timerange(args.timerange)
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    return start, None if end is None else end - 1
