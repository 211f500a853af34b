"""`tradebot-tui trades`: the journal's closed trades (or their sums) as CSV or JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tradebot_tui.cli.common import EXIT_OK, UsageError
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.store import load_settings


def add_parser(commands: Any) -> None:
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
    trades.set_defaults(func=run)


def run(args: argparse.Namespace, locations: Locations) -> int:
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
