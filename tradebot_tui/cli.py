"""The `tradebot-tui` command: the app (default), --headless, config, locate, --version.

Heavy imports (textual, trio) happen only on the paths that need them, so that
`--version`, `locate` and `config` answer at once; ccxt is never imported on the default
path.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradebot_tui import __version__
from tradebot_tui.config.credentials import Credentials, SecretsError, load_credentials
from tradebot_tui.config.locations import CONFIG_ENV, Locations, locate
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.store import init_config, load_settings
from tradebot_tui.config.validate import ConfigError
from tradebot_tui.core.errors import TradebotError

if TYPE_CHECKING:
    from tradebot_tui.away.notifier import Notifier
    from tradebot_tui.engine.engine import Engine
    from tradebot_tui.exchange.base import Broker, MarketDataSource
    from tradebot_tui.exchange.simulator import SimulatedMarket
    from tradebot_tui.journal.store import Journal

PROG = "tradebot-tui"
EXIT_OK, EXIT_CRASH, EXIT_USAGE = 0, 1, 2


class UsageError(TradebotError):
    """Bad input from the user: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A terminal-native crypto trading bot. Without a command, opens the "
        "full-screen app trading paper on the embedded simulated market.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"config file to use (default: the platform's config dir; env {CONFIG_ENV})",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="run the engine without the UI, logging to stdout (stop with Ctrl+C or SIGTERM)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help='trade real money (also needs exchange.mode = "live", API keys, exchange '
        "data and a confirmation in the app)",
    )
    parser.add_argument(
        "--new-journal",
        action="store_true",
        help="paper: discard the journal and start fresh (says what it held); live: start a "
        "fresh journal after one was moved aside (unreadable, or it lost data)",
    )
    parser.add_argument(
        "--confirm-live",
        action="store_true",
        help="with --headless --live: the confirmation the app would ask for",
    )
    # For the terminal-restore tests: the engine raises after this many seconds.
    parser.add_argument(
        "--inject-engine-crash", type=float, metavar="SECONDS", help=argparse.SUPPRESS
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("locate", help="print where config, secrets, data and logs live")
    status = commands.add_parser(
        "status",
        help="print the health of the running bot (exit 0 ok, 1 degraded, 2 failing or "
        "not running)",
        description="Reads the health report the running bot (app or headless) writes to "
        "its data dir every few seconds. Exit status: 0 ok, 1 degraded, 2 failing or not "
        "running: for cron, systemd and monitoring scripts.",
    )
    trades = commands.add_parser(
        "trades",
        help="export the closed trades of the journal as CSV or JSON",
        description="Reads the journal of this profile (read-only: a running bot is not "
        "disturbed) and prints its closed trades, or their sums per UTC day or per coin: "
        "the figures the history screen and the daily summary show.",
    )
    trades.add_argument("--format", choices=("csv", "json"), default="csv")
    trades.add_argument(
        "--by", choices=("trade", "day", "coin"), default="trade", help="one row per ..."
    )
    trades.add_argument(
        "--mode",
        choices=("paper", "live"),
        help="which journal (default: exchange.mode of the config)",
    )
    trades.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    trades.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="config file to use"
    )
    status.add_argument("--json", action="store_true", help="print the whole report as JSON")
    status.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="config file to use"
    )
    config = commands.add_parser("config", help="create, check or find the config file")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    init = config_commands.add_parser("init", help="write a commented config of defaults")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    config_commands.add_parser("check", help="validate the config file (exit 2 if bad)")
    config_commands.add_parser("path", help="print the config file's path")
    replay = commands.add_parser(
        "replay",
        help="run the strategy headless over recorded or historical data",
        description="Replay tick CSV, freqtrade OHLCV (.feather/.json), Binance Vision kline "
        "CSV and tradebot recordings through the trading core with paper fills. Several "
        "files are merged in time order. Dates are UTC: 2026-03-25, 2026-03-25T14:30 or "
        "epoch milliseconds; a --to date without a time includes that whole day.",
    )
    replay.add_argument("paths", nargs="+", metavar="PATH", help="data files to replay")
    replay.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="config file to use"
    )
    replay.add_argument("--trades-out", metavar="FILE", help="write the closed trades as CSV")
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
    from tradebot_tui.cli_tune import add_parser

    add_parser(commands)
    return parser


def entry() -> None:
    """The console script: `main`, then an exit without the interpreter's teardown.

    When `main` returns, everything it must write is written and closed (the engine
    stopped, the journal and logs closed, the terminal restored). What is left of a
    normal exit is CPython freeing every object and module one by one: 300 ms of the
    desk's 320 ms quit, measured with timing marks (the app's own shutdown took 20 ms).
    Threads still running are waited for and the exit handlers run, as on a normal exit;
    then the standard streams are flushed and the process ends.
    """
    code = main()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        locations = locate(args.config)
        if args.command == "locate":
            return cmd_locate(locations)
        if args.command == "status":
            return cmd_status(args, locations)
        if args.command == "trades":
            return cmd_trades(args, locations)
        if args.command == "config":
            return cmd_config(args, locations)
        if args.command == "replay":
            return cmd_replay(args, locations)
        if args.command == "tune":
            from tradebot_tui.cli_tune import cmd_tune

            return cmd_tune(args, locations)
        return cmd_run(args, locations)
    except TradebotError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


# -- locate and config -----------------------------------------------------------------------


def cmd_locate(locations: Locations) -> int:
    for name, path in locations.as_rows():
        state = "" if path.exists() else "  (not created yet)"
        print(f"{name:<11} {path}{state}")
    return EXIT_OK


def cmd_trades(args: argparse.Namespace, locations: Locations) -> int:
    """Export the journal's closed trades (or their sums per day or coin)."""
    from tradebot_tui.config.files import write_atomic
    from tradebot_tui.core.market import replay_rules
    from tradebot_tui.exchange.simulator import SimulatedMarket
    from tradebot_tui.journal.trade_history import export, read_trades

    settings = load_settings(locations.config_file, required=locations.config_explicit)
    mode = args.mode or settings.exchange.mode
    path = locations.journal(mode, settings.exchange.profile)
    # The simulated market's own rules where it trades the coin; otherwise the replay's
    # (they decide dust only, never a trade's figures).
    simulated = SimulatedMarket().markets()
    trades = read_trades(path, settings, lambda s: simulated.get(s) or replay_rules(s))
    text = export(trades, args.format, args.by)
    if args.out:
        try:
            write_atomic(Path(args.out), text.encode())
        except OSError as exc:
            raise UsageError(f"--out {args.out}: {exc.strerror or exc}") from None
        print(f"{len(trades)} trade(s) from {path} written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_status(args: argparse.Namespace, locations: Locations) -> int:
    """Print the running bot's health; exit 0 ok, 1 degraded, 2 failing or not running."""
    from datetime import UTC, datetime

    from tradebot_tui.away.health import HEALTH_FILE, read_health

    path = locations.data_dir / HEALTH_FILE
    status, report = read_health(path)
    pid = report.get("pid")
    if status == "failing" and isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            when = datetime.fromtimestamp(float(report.get("time", 0)), UTC)
            status = "not running"
            report["reasons"] = [
                f"pid {pid} is gone: it stopped without saying so at "
                f"{when:%Y-%m-%d %H:%M:%S} UTC (killed or crashed)"
            ]
        except PermissionError:
            pass  # alive, under another user
    if args.json:
        print(json.dumps({**report, "status": status}, indent=1))
    else:
        print(status_lines(status, report, path))
    return {"ok": EXIT_OK, "degraded": 1}.get(status, EXIT_USAGE)


def status_lines(status: str, report: dict[str, Any], path: Path) -> str:
    """The health report in a few lines, for a person."""
    if status == "not running" and not report:
        return f"{PROG}: not running (no health report at {path})"
    if report.get("status") == "stopped":
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(float(report.get("time", 0)), UTC)
        return f"{PROG}: not running (stopped at {when:%Y-%m-%d %H:%M:%S} UTC)"
    lines = [f"{PROG}: {status}"]
    if report.get("pid"):
        up = int(float(report.get("uptime_s", 0)))
        lines[0] += (
            f": {report.get('state', '?')}, {report.get('mode', '?')} on "
            f"{report.get('source', '?')}, pid {report['pid']}, up {up // 3600}h"
            f"{up % 3600 // 60:02d}m"
        )
        positions = report.get("positions") or []
        held = f" ({', '.join(positions[:6])}{', …' if len(positions) > 6 else ''})"
        quote = report.get("quote", "")
        lines.append(
            f"equity {report.get('equity')} {quote} · free {report.get('free')} · "
            f"{len(positions)} position(s){held if positions else ''} · "
            f"{report.get('open_orders', 0)} open order(s) · {report.get('trades', 0)} trade(s)"
        )
        lag = report.get("feed_lag_s")
        feed = report.get("feed") or report.get("source", "")
        lines.append(
            f"feed {feed}{f' (newest price {lag}s old)' if lag is not None else ''} · "
            f"{report.get('ticks', 0)} ticks"
            + (f" · {report['away']}" if report.get("away") else "")
        )
    lines.extend(f"  - {reason}" for reason in report.get("reasons", []))
    return "\n".join(lines)


def cmd_config(args: argparse.Namespace, locations: Locations) -> int:
    path = locations.config_file
    if args.config_command == "path":
        print(path)
        return EXIT_OK
    if args.config_command == "init":
        init_config(path, force=args.force)
        print(f"wrote {path}")
        return EXIT_OK
    # check
    settings = load_settings(path, required=locations.config_explicit)
    make_source(settings, str(path))
    print(config_note(locations, settings_loaded=path.exists()))
    print(credentials_note(settings, locations, strict=settings.exchange.mode == "live"))
    print(away_note(settings, locations))
    return EXIT_OK


def away_note(settings: Settings, locations: Locations) -> str:
    """Notifications, Telegram and metrics as they would start, never a token or URL."""
    from tradebot_tui.config.credentials import load_notify_urls, load_telegram

    parts = []
    try:
        urls = load_notify_urls(locations.secrets_file)
        parts.append(f"notifications to {len(urls)} Apprise URL(s)" if urls else "no notifications")
    except SecretsError as exc:
        parts.append(f"notifications off: {exc}")
    try:
        access = load_telegram(locations.secrets_file)
        parts.append(
            f"Telegram for {len(access.chat_ids)} chat(s) via {settings.telegram.api_url}"
            if access
            else "no Telegram"
        )
    except SecretsError as exc:
        parts.append(f"Telegram off: {exc}")
    monitor = settings.monitor
    parts.append(
        f"metrics on http://{monitor.metrics_host}:{monitor.metrics_port}"
        if monitor.metrics
        else "no metrics endpoint"
    )
    return "away from the terminal: " + "; ".join(parts)


def config_note(locations: Locations, *, settings_loaded: bool) -> str:
    path = locations.config_file
    if settings_loaded:
        return f"config: {path} is valid"
    return f"config: no file at {path}; the defaults apply (create one: {PROG} config init)"


def credentials_note(settings: Settings, locations: Locations, *, strict: bool) -> str:
    """Where the API keys come from, never what they are.

    Raises:
        SecretsError: when `strict` (live mode) and the keys cannot be used.
    """
    try:
        creds: Credentials | None = load_credentials(settings.exchange.name, locations.secrets_file)
    except SecretsError as exc:
        if strict:
            raise
        return f"API keys: not used in paper mode; note: {exc}"
    if creds is None:
        return "API keys: none found (paper trading needs none)"
    return f"API keys: found for {settings.exchange.name} in {creds.source} (never shown)"


# -- replay ----------------------------------------------------------------------------------


def parse_date(text: str, option: str, *, end: bool = False) -> int:
    """A UTC date, date-time or epoch-ms as epoch milliseconds.

    With `end`, a bare date means the last millisecond of that day.
    """
    from datetime import UTC, datetime, timedelta

    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: expected a UTC date like 2026-03-25, 2026-03-25T14:30 or "
            "epoch milliseconds"
        ) from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if end and len(value) == 10:
        when += timedelta(days=1) - timedelta(milliseconds=1)
    return int(when.timestamp() * 1000)


def cmd_replay(args: argparse.Namespace, locations: Locations) -> int:

    from tradebot_tui.data.files import open_candle_stream, read_file, series_span
    from tradebot_tui.replay.runner import (
        report_lines,
        run_replay,
        span_text,
        write_trades,
    )

    settings = load_settings(locations.config_file, required=locations.config_explicit)
    from_ms = None if args.from_date is None else parse_date(args.from_date, "--from")
    to_ms = None if args.to_date is None else parse_date(args.to_date, "--to", end=True)
    if from_ms is not None and to_ms is not None and to_ms < from_ms:
        raise UsageError(f"--to {args.to_date} is before --from {args.from_date}")
    trades_out = Path(args.trades_out) if args.trades_out else None
    if trades_out is not None and trades_out.is_dir():
        raise UsageError(f"--trades-out {trades_out} is a directory")
    if args.tui:
        if trades_out is not None:
            raise UsageError("--trades-out is for the headless replay; drop it or --tui")
        if not 0 < args.speed <= 1_000_000:
            raise UsageError(f"--speed {args.speed:g}: must be above 0 and at most 1000000")
        return replay_tui(
            args, settings, locations, [read_file(Path(p)) for p in args.paths], from_ms, to_ms
        )
    # Feather candle files are streamed (a chunk at a time: memory flat whatever the
    # span); any other input is read whole.
    series: list[Any] = [open_candle_stream(Path(p)) or read_file(Path(p)) for p in args.paths]
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
            f"no ticks to trade between {args.from_date or 'the start'} and "
            f"{args.to_date or 'the end'}; the data covers {span_text(series_span(series))}"
        )
    for line in report_lines(result, settings.budget.quote):
        print(line)
    if trades_out is not None:
        try:
            write_trades(trades_out, result.trades)
        except OSError as exc:
            raise UsageError(f"--trades-out {trades_out}: {exc.strerror or exc}") from None
        print(f"trades written to {trades_out}")
    return EXIT_OK


def replay_tui(
    args: argparse.Namespace,
    settings: Settings,
    locations: Locations,
    series: list[Any],
    from_ms: int | None,
    to_ms: int | None,
) -> int:
    """The app over a replay: the live engine, paper fills, ticks paced by `--speed`."""

    from tradebot_tui.replay.runner import check_quote
    from tradebot_tui.engine.replay_source import ReplaySource, replay_engine

    check_quote(series, settings.budget.quote)
    try:
        source = ReplaySource(
            series, speed=args.speed, from_ms=from_ms, to_ms=to_ms, paused=args.paused
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    make_engine = replay_engine(settings, source)
    files = ", ".join(Path(p).name for p in args.paths)
    notes = (
        config_note(locations, settings_loaded=locations.config_file.exists()),
        f"replaying {files} with paper fills; API keys are not used",
    )
    return run_engine(settings, locations, make_engine, notes, replay=True)


# -- run -------------------------------------------------------------------------------------


def make_source(settings: Settings, source: str) -> SimulatedMarket:
    """The embedded simulated market the settings ask for.

    Raises:
        ConfigError: a symbol the source does not have.
    """
    from tradebot_tui.exchange.simulator import SimulatedMarket, UnknownSymbol, synthetic_pairs

    market = settings.market
    if market.sim_pairs and market.symbols:
        raise ConfigError(source, "market.sim_pairs", "use either market.symbols or sim_pairs")
    try:
        return SimulatedMarket(
            market.symbols,
            seed=market.seed,
            interval_ms=market.tick_interval_ms,
            warmup_ms=settings.strategy.window_s * 1000 + 60_000,
            pairs=synthetic_pairs(market.sim_pairs) if market.sim_pairs else None,
        )
    except UnknownSymbol as exc:
        raise ConfigError(source, "market.symbols", str(exc)) from None


def check_live(args: argparse.Namespace, settings: Settings, locations: Locations) -> bool:
    """Whether this run trades real money; refuses every incomplete way of asking.

    Raises:
        UsageError: live asked for one way but not the other, or without exchange data.
        SecretsError: live without usable API keys.
    """
    config_live = settings.exchange.mode == "live"
    path = locations.config_file
    if config_live and not args.live:
        raise UsageError(
            f"exchange.mode is 'live' in {path}, but --live is missing: live trading needs "
            'both (or set mode = "paper")'
        )
    if args.live and not config_live:
        raise UsageError(f'--live needs exchange.mode = "live" in {path}; nothing was started')
    if not config_live:
        return False
    if settings.market.source == "simulated":
        raise UsageError("live trading needs exchange data: set market.source to ccxt or websocket")
    if args.headless and not args.confirm_live:
        raise UsageError(
            "--headless --live also needs --confirm-live (the app asks on screen instead)"
        )
    creds = load_credentials(settings.exchange.name, locations.secrets_file)
    if creds is None:
        raise UsageError(
            "live trading needs API keys: set TRADEBOT_API_KEY and TRADEBOT_API_SECRET or "
            f"write {locations.secrets_file} (readable by you only)"
        )
    return True


def make_exchange_feed(
    settings: Settings, locations: Locations, *, live: bool
) -> tuple[MarketDataSource, Broker]:
    """Source and broker for exchange data: ccxt REST or Binance websocket; paper or live."""
    from tradebot_tui.exchange.base import QuoteBook
    from tradebot_tui.exchange.ccxt_broker import CcxtBroker
    from tradebot_tui.exchange.ccxt_markets import make_exchange
    from tradebot_tui.exchange.client import ExchangeClient
    from tradebot_tui.exchange.live_sources import BinanceWebsocketSource, CcxtPollingSource
    from tradebot_tui.exchange.paper import QuotePaperBroker
    from tradebot_tui.exchange.resilience import CircuitBreaker, WeightBudget
    from tradebot_tui.exchange.universe import UniverseRule

    ex = settings.exchange
    market = settings.market
    creds = load_credentials(ex.name, locations.secrets_file) if live else None
    try:
        exchange = make_exchange(
            ex.name,
            rest_url=ex.rest_url,
            timeout_s=ex.timeout_s,
            api_key=creds.api_key.reveal() if creds else None,
            secret=creds.api_secret.reveal() if creds else None,
        )
    except ValueError as exc:
        raise ConfigError(str(locations.config_file), "exchange.name", str(exc)) from None
    # Market data on a client of its own: a slow ticker poll never holds up an exit.
    market_data = make_exchange(ex.name, rest_url=ex.rest_url, timeout_s=ex.timeout_s)
    client = ExchangeClient(
        exchange,
        market_data=market_data,
        budget=WeightBudget(ex.weight_per_minute),
        breaker=CircuitBreaker(ex.breaker_failures, ex.breaker_open_s),
        timeout_s=ex.timeout_s,
    )
    mode = market.universe
    if mode == "auto":
        mode = "static" if market.symbols else "top_volume"
    rule = UniverseRule(
        quote=settings.budget.quote,
        mode=mode,
        symbols=market.symbols,
        top_n=market.top_n,
        include=market.include,
        exclude=market.exclude,
        allow_leveraged=market.allow_leveraged,
        allow_stablecoins=market.allow_stablecoins,
    )
    quotes = QuoteBook()
    source: CcxtPollingSource | BinanceWebsocketSource
    if market.source == "websocket":
        if ex.name != "binance":
            raise ConfigError(
                str(locations.config_file),
                "market.source",
                f"websocket streams are Binance's; exchange.name is {ex.name!r} (use ccxt)",
            )
        source = BinanceWebsocketSource(
            client,
            rule,
            quotes,
            ws_url=ex.ws_url,
            stream=market.ws_stream,
            refresh_s=market.universe_refresh_s,
            warmup_s=settings.strategy.window_s,
        )
    else:
        source = CcxtPollingSource(
            client,
            rule,
            quotes,
            interval_s=market.poll_interval_s,
            refresh_s=market.universe_refresh_s,
            warmup_s=settings.strategy.window_s,
        )
    fee_rate = ex.fee_rate
    broker: Broker
    if live:
        broker = CcxtBroker(
            client,
            fee_rate,
            rules=lambda symbol: source.markets().get(symbol),
            order_type=ex.order_type,
            settle_s=ex.settle_s,
        )
    else:
        broker = QuotePaperBroker(
            fee_rate,
            quotes,
            lambda symbol: source.markets().get(symbol),
            latency_s=ex.paper_latency_ms / 1000,
            slices=ex.paper_slices,
        )
    return source, broker


def cmd_run(args: argparse.Namespace, locations: Locations) -> int:
    settings = load_settings(locations.config_file, required=locations.config_explicit)
    from tradebot_tui.journal.store import JournalError

    try:
        return run_bot(args, settings, locations)
    except JournalError as exc:
        # Nothing trades until the owner decides: they must hear it, wherever they are.
        tell_owner(settings, locations, "Not started: journal problem", str(exc))
        raise


def tell_owner(settings: Settings, locations: Locations, title: str, body: str) -> None:
    """A notification now (when notifications are set up), within their deadline."""
    notifier = make_notifier(settings, locations)
    if notifier is None:
        return
    import trio

    notifier.add("engine", title, body, "error")
    trio.run(notifier.flush)


def run_bot(args: argparse.Namespace, settings: Settings, locations: Locations) -> int:
    live = check_live(args, settings, locations)
    notes = (
        config_note(locations, settings_loaded=locations.config_file.exists()),
        credentials_note(settings, locations, strict=live),
    )
    from tradebot_tui.away.health import HEALTH_FILE
    from tradebot_tui.config.instance_lock import InstanceLock
    from tradebot_tui.engine.engine import Engine
    from tradebot_tui.engine.recovery import LAST_PRICES
    from tradebot_tui.exchange.simulator import SimulatedMarket

    source: MarketDataSource
    if settings.market.source == "simulated":
        from tradebot_tui.exchange.paper import PaperBroker

        source = make_source(settings, str(locations.config_file))
        broker: Broker = PaperBroker(settings.exchange.fee_rate)
    else:
        source, broker = make_exchange_feed(settings, locations, live=live)

    def make_engine(**kwargs: Any) -> Engine:
        engine = Engine(
            settings,
            source,
            broker,
            mode="LIVE" if live else "PAPER",
            crash_after_s=args.inject_engine_crash,
            recordings=locations.recordings_dir if settings.market.record else None,
            # Live: opened only now, so that a run not confirmed leaves nothing behind.
            journal=paper_journal if not live else open_journal(args, settings, locations),
            notifier=make_notifier(settings, locations),
            **kwargs,
        )
        engine.monitor.reporter.health_file = locations.data_dir / HEALTH_FILE  # for `status`
        add_remote(engine, settings, locations)
        return engine

    # Everything the config asks for is checked: now one process per data dir.
    with InstanceLock(locations.data_dir):
        paper_journal = None
        if not live:
            paper_journal = open_journal(args, settings, locations, live=False)
            prices = paper_journal.meta(LAST_PRICES)
            if prices and isinstance(source, SimulatedMarket):
                source.resume_from(json.loads(prices))  # the market goes on where it was
        return run_engine(
            settings, locations, make_engine, notes, headless=args.headless, live=live
        )


def make_notifier(settings: Settings, locations: Locations) -> Notifier | None:
    """The owner's notifications, when Apprise URLs are set (secrets file or environment).

    URLs that cannot be read turn notifications off, with a warning in the log (the rest
    of the secrets file's trouble is reported with the API keys)."""
    from tradebot_tui.away.notifier import AppriseSender
    from tradebot_tui.away.notifier import Notifier as NotifierClass
    from tradebot_tui.config.credentials import load_notify_urls

    try:
        urls = load_notify_urls(locations.secrets_file)
    except SecretsError as exc:
        logging.getLogger("tradebot.notify").warning("notifications off: %s", exc)
        return None
    if not urls:
        return None
    return NotifierClass(AppriseSender(list(urls)), settings.notify)


def add_remote(engine: Engine, settings: Settings, locations: Locations) -> None:
    """Telegram remote control, when a bot token and chats are set (secrets or environment).

    A token that cannot be read turns it off, with a warning in the log."""
    from tradebot_tui.config.credentials import load_telegram

    try:
        access = load_telegram(locations.secrets_file)
    except SecretsError as exc:
        logging.getLogger("tradebot.telegram").warning("telegram off: %s", exc)
        return
    if access is None:
        return
    from tradebot_tui.away.telegram import Desk, TelegramApi, TelegramRemote

    remote = TelegramRemote(
        TelegramApi(settings.telegram.api_url, access.token), access, settings.telegram
    )
    remote.desk = Desk.of(engine)
    engine.add_service(remote)


def open_journal(
    args: argparse.Namespace, settings: Settings, locations: Locations, *, live: bool = True
) -> Journal:
    """The journal of this mode and profile (state survives restarts in paper as in live).

    A live journal of an older version (`state.db` in the data dir) moves to its new place.
    `--new-journal` on paper discards the journal, after saying what it held.
    """
    from tradebot_tui.journal.store import Journal, move_aside

    profile = settings.exchange.profile
    path = locations.journal("live" if live else "paper", profile)
    legacy = locations.legacy_journal
    if live and legacy.exists() and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            old = Path(f"{legacy}{suffix}")
            if old.exists():
                old.replace(Path(f"{path}{suffix}"))
        print(f"{PROG}: the live journal moved from {legacy} to {path}", file=sys.stderr)
    if not live and args.new_journal and path.exists():
        old_journal = Journal.open(path, profile=profile)
        held = old_journal.summary(settings.budget.quote)
        old_journal.close()
        target = move_aside(path, "discarded")
        print(
            f"{PROG}: --new-journal: the paper journal ({held}) was moved to {target}; "
            "starting fresh",
            file=sys.stderr,
        )
    return Journal.open(path, profile=profile, new_journal=args.new_journal)


def run_engine(
    settings: Settings,
    locations: Locations,
    make_engine: Callable[..., Engine],
    notes: tuple[str, str],
    *,
    headless: bool = False,
    live: bool = False,
    replay: bool = False,
) -> int:
    """Run an engine headless or in the app, logging to the log dir (and stdout, headless).

    Args:
        make_engine: Builds the engine; takes `publish` and `log_ring` keywords.
    """
    from tradebot_tui.engine.logs import LoggingSetup

    logging_setup = LoggingSetup()
    try:
        logging_setup.start(locations.log_dir, stdout=headless)
        if headless:
            return run_headless(make_engine())
        return run_app(settings, locations, make_engine, notes, live=live, replay=replay)
    finally:
        logging_setup.stop()


def run_headless(engine: Engine) -> int:
    from tradebot_tui.engine.host import run_headless as host_headless

    try:
        host_headless(engine)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            return EXIT_OK
        return report_engine_error(exc)
    return EXIT_OK


def run_app(
    settings: Settings,
    locations: Locations,
    engine_factory: Callable[..., Engine],
    notes: tuple[str, str],
    *,
    live: bool = False,
    replay: bool = False,
) -> int:
    from tradebot_tui.ui.app import TradebotApp

    app = TradebotApp(
        settings,
        locations,
        engine_factory,
        config_note=notes[0],
        credentials_note=notes[1],
        live=live,
        replay=replay,
    )
    app.run()
    if app.engine_error is not None:
        return report_engine_error(app.engine_error)
    return app.return_code or EXIT_OK


def report_engine_error(exc: BaseException) -> int:
    """After the terminal is restored: a refusal the user must act on is one line each
    (exit 2, like a bad config); anything else is a crash with its traceback (exit 1)."""
    from tradebot_tui.engine.errors import real_errors
    from tradebot_tui.engine.logs import redact

    leaves = [e for e in real_errors(exc) if not isinstance(e, KeyboardInterrupt)]
    if leaves and all(isinstance(e, TradebotError) for e in leaves):
        for leaf in leaves:
            print(f"{PROG}: error: {redact(str(leaf))}", file=sys.stderr)
        return EXIT_USAGE
    print_crash(exc)
    return EXIT_CRASH


def print_crash(exc: BaseException) -> None:
    """Show an engine failure on stderr, after the terminal has been restored."""
    from tradebot_tui.engine.errors import describe_error
    from tradebot_tui.engine.logs import redact

    lines = traceback.format_exception(exc)
    print(redact("".join(lines)).rstrip(), file=sys.stderr)
    print(f"{PROG}: the engine crashed: {redact(describe_error(exc))}", file=sys.stderr)
