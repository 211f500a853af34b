"""`tradebot-tui trades`: the journal's closed trades (or their sums) as CSV or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradebot_tui.cli.common import EXIT_OK, UsageError, settings_lines
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.store import load_settings

if TYPE_CHECKING:  # the rest is imported when the command runs, not on every launch
    from tradebot_tui.core.book import Trade
    from tradebot_tui.journal.tallies import Tally


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
    from tradebot_tui.journal.trade_history import read_trades

    settings = load_settings(locations.config_file, required=locations.config_explicit)
    mode = args.mode or settings.exchange.mode
    path = locations.journal(mode, settings.exchange.profile)
    # The simulated market's own rules where it trades the coin; otherwise the replay's
    # (they decide dust only, never a trade's figures).
    simulated = SimulatedMarket().markets()
    print(settings_lines(locations, settings)[0], file=sys.stderr)
    if path.exists():
        trades = read_trades(path, settings, lambda s: simulated.get(s) or replay_rules(s))
    else:  # nothing traded yet in this mode and profile: an empty table
        print(f"no journal at {path}: nothing traded yet", file=sys.stderr)
        trades = []
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


def _tally_row(label: str, key: str, t: Tally) -> dict[str, object]:
    from tradebot_tui.core.money import fmt_decimal

    return {
        label: key,
        "trades": t.trades,
        "won": t.wins,
        "pnl": fmt_decimal(t.pnl),
        "fees": fmt_decimal(t.fees),
    }


def export(trades: Sequence[Trade], fmt: str, by: str) -> str:
    """The trades (`by` = "trade"), or their sums per UTC day or per coin, as CSV or JSON."""
    from tradebot_tui.core.money import fmt_decimal
    from tradebot_tui.data.trades_csv import trades_csv
    from tradebot_tui.journal.tallies import Tallies

    if by == "trade":
        if fmt == "csv":
            return trades_csv(trades)
        rows: list[dict[str, object]] = [
            {
                "symbol": t.symbol,
                "entry_ts_ms": t.entry_ts_ms,
                "entry_price": fmt_decimal(t.entry_price),
                "exit_ts_ms": t.exit_ts_ms,
                "exit_price": fmt_decimal(t.exit_price),
                "qty": fmt_decimal(t.qty),
                "exit_reason": t.exit_reason.value,
                "pnl": fmt_decimal(t.pnl),
                "fees": fmt_decimal(t.fees),
            }
            for t in trades
        ]
    else:
        stats = Tallies()
        for t in trades:
            stats.add(t)
        if by == "day":
            rows = [_tally_row("day", d, stats.days[d]) for d in sorted(stats.days)]
        else:
            rows = [_tally_row("symbol", s, stats.coins[s]) for s in sorted(stats.coins)]
    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    header = (
        list(rows[0])
        if rows
        else ["day" if by == "day" else "symbol", "trades", "won", "pnl", "fees"]
    )
    lines = [",".join(header)]
    lines.extend(",".join(str(row[k]) for k in header) for row in rows)
    return "\n".join(lines) + "\n"
