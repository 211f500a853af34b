"""`tradebot-tui download`: candle history from Binance Vision (checked archives) or any
ccxt exchange, into the data dir in freqtrade's layout."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from tradebot_tui.cli.common import EXIT_OK, EXIT_USAGE, PROG, UsageError
from tradebot_tui.config.locations import Locations

DEFAULT_DAYS = 30
MAX_JOBS = 16


def add_parser(commands: Any) -> None:
    # The address alone, not the downloader: the parser is built on every launch.
    from tradebot_tui.data.vision_address import BASE_URL, BASE_URL_ENV

    parser = commands.add_parser(
        "download",
        help="download candle history (Binance Vision, or any ccxt exchange)",
        description="Download candles into the data dir, one freqtrade-format file per pair "
        "(BTC_USDT-1m.feather), extending what is there: only what is missing is fetched, "
        "and a cut download resumes. Binance's come from Binance Vision's monthly and daily "
        "archives, each checked against its SHA-256 checksum before use; any other exchange's "
        "from ccxt's fetch_ohlcv at the exchange's rate limit.",
    )
    parser.add_argument(
        "--pairs", required=True, metavar="PAIRS", help="comma-separated, like BTC/USDT,ETH/USDT"
    )
    parser.add_argument("--timeframe", default="1m", help="candle length (default 1m)")
    parser.add_argument(
        "--timerange",
        metavar="START-END",
        help="UTC days as freqtrade takes them: 20240101-20241231 is from the start of the "
        "first day to the start of the second; 20240101- is up to now "
        f"(default: the last {DEFAULT_DAYS} days)",
    )
    parser.add_argument(
        "--exchange",
        default="binance",
        help="binance (Binance Vision's archives) or any ccxt exchange id (default binance)",
    )
    parser.add_argument(
        "--source",
        choices=("vision", "ccxt"),
        help="for binance: vision (the default) or ccxt (the REST API, for ranges the "
        "archives do not have yet)",
    )
    parser.add_argument(
        "--datadir",
        metavar="DIR",
        help="where the files go (default: the data dir's history/<exchange>; a freqtrade "
        "user_data/data/<exchange> folder works both ways)",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help=f"Binance Vision, or a mirror of it (default {BASE_URL}; env {BASE_URL_ENV})",
    )
    parser.add_argument(
        "--rest-url",
        metavar="URL",
        default="",
        help="ccxt: send the exchange's REST calls to this host instead (a testnet or a fake)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=4,
        metavar="N",
        help=f"archives fetched at once, 1 to {MAX_JOBS} (default 4; ccxt asks one at a time)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, locations: Locations) -> int:
    from tradebot_tui.data.download import Job, download
    from tradebot_tui.data.history import (
        FetchFailed,
        HistoryError,
        Piece,
        clip_to_now,
        file_name,
        parse_pairs,
        parse_timerange,
        timeframe_ms,
        utc_minute,
    )
    from tradebot_tui.exchange.ohlcv_history import page_starts

    if not 1 <= args.jobs <= MAX_JOBS:
        raise UsageError(f"--jobs {args.jobs}: must be 1 to {MAX_JOBS}")
    now = int(time.time() * 1000)
    try:
        pairs = parse_pairs(args.pairs)
        period = timeframe_ms(args.timeframe)
        if args.timerange:
            start, end = parse_timerange(args.timerange)
        else:
            start, end = (now // 86_400_000 - DEFAULT_DAYS) * 86_400_000, None
        end = clip_to_now(start, end, period, now)
        exchange = args.exchange.strip().lower()
        source = args.source or ("vision" if exchange == "binance" else "ccxt")
        if source == "vision" and exchange != "binance":
            raise UsageError(f"--source vision is Binance's archive; --exchange is {exchange}")
        folder = (
            Path(args.datadir).expanduser() if args.datadir else locations.history_dir / exchange
        )
        jobs = []
        if source == "vision":
            from tradebot_tui.data.vision import VisionSource, pieces
            from tradebot_tui.data.vision_address import BASE_URL, BASE_URL_ENV

            base = args.base_url or os.environ.get(BASE_URL_ENV) or BASE_URL
            plan = pieces(start, end, now)
            for pair in pairs:
                fetch = VisionSource(pair, args.timeframe, base, now_ms=now)
                path = folder / file_name(pair, args.timeframe)
                jobs.append(Job(pair, path, fetch, plan, start, end, period))
            workers = args.jobs
        else:
            history = ccxt_history(exchange, args.rest_url, pairs, args.timeframe)
            plan = [Piece(utc_minute(a), a, b) for a, b in page_starts(start, end, period)]
            for pair in pairs:
                path = folder / file_name(pair, args.timeframe)
                fetch = page_fetcher(history, pair, args.timeframe)
                jobs.append(Job(pair, path, fetch, plan, start, end, period))
            workers = 1
        origin = "Binance Vision" if source == "vision" else f"{exchange} via ccxt"
        print(
            f"download: {', '.join(pairs)} {args.timeframe} from {_day(start)} to "
            f"{_day(end)} ({origin}) into {folder}"
        )
        outcomes = download(jobs, workers=workers)
    except (HistoryError, FetchFailed) as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"{PROG}: download interrupted; what was complete is kept, run it again to resume")
        return 130
    return report(outcomes, source)


def ccxt_history(exchange: str, rest_url: str, pairs: list[str], timeframe: str) -> Any:
    """A ccxt client that has the pairs and the timeframe (the exchange is asked)."""
    from tradebot_tui.data.history import FetchFailed, HistoryError
    from tradebot_tui.exchange.ohlcv_history import CcxtHistory, NotOffered, Unreachable

    try:
        history = CcxtHistory(exchange, rest_url=rest_url)
        history.check(pairs, timeframe)
    except NotOffered as exc:
        raise HistoryError(str(exc)) from None
    except Unreachable as exc:
        raise FetchFailed(str(exc)) from None
    return history


def page_fetcher(history: Any, pair: str, timeframe: str) -> Any:
    """One page of `pair`'s candles as the downloader takes them."""
    from tradebot_tui.data.history import Candles, FetchFailed, HistoryError, Piece
    from tradebot_tui.exchange.ohlcv_history import NotOffered, Unreachable

    def fetch(piece: Piece) -> Candles | None:
        try:
            rows = history.page(pair, timeframe, piece.start_ms, piece.end_ms)
        except NotOffered as exc:
            raise HistoryError(str(exc)) from None
        except Unreachable as exc:
            raise FetchFailed(str(exc)) from None
        candles = Candles()
        for row in rows:
            candles.append(*row)
        return candles if len(candles) else None

    return fetch


def _day(ts_ms: int) -> str:
    from tradebot_tui.data.history import utc_minute

    return utc_minute(ts_ms) + " UTC"


def report(outcomes: list[Any], source: str) -> int:
    from tradebot_tui.data.history import utc_minute

    problems = []
    for o in outcomes:
        if o.checksum is not None:
            problems.append(f"{o.pair}: {o.checksum}; nothing of {o.pair} was written")
            continue
        if o.span is None:
            where = "Binance Vision" if source == "vision" else "the exchange"
            problems.append(
                (
                    o.failure
                    and f"{o.pair}: {o.failure}; nothing was complete, run it again to resume"
                )
                or f"{o.pair}: {where} has no candles of it in that range (unknown pair, or "
                "not listed yet)"
            )
            continue
        fetched = f"{o.fetched} fetched" + (f", {o.empty} with nothing" if o.empty else "")
        print(
            f"{o.pair}: {o.candles:,} candles {utc_minute(o.span[0])} to {utc_minute(o.span[1])}"
            f" UTC in {o.path} ({fetched}, {o.already} already there; {o.added:+,} candles)"
        )
        if o.failure:
            problems.append(
                f"{o.pair}: {o.failure}; what was complete is kept, run it again to resume"
            )
    for line in problems:
        print(f"{PROG}: error: {line}")
    return EXIT_USAGE if problems else EXIT_OK
