"""`tradebot-tui status`: the running bot's health, for a person or a script."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tradebot_tui.cli.common import EXIT_OK, EXIT_USAGE, PROG
from tradebot_tui.config.locations import Locations


def add_parser(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="print the health of the running bot (exit 0 ok, 1 degraded, 2 failing or "
        "not running)",
        description="Reads the health report the running bot (app or headless) writes to "
        "its data dir every few seconds. Exit status: 0 ok, 1 degraded, 2 failing or not "
        "running: for cron, systemd and monitoring scripts.",
    )
    status.add_argument("--json", action="store_true", help="print the whole report as JSON")
    status.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="config file to use"
    )
    status.set_defaults(func=run)


def run(args: argparse.Namespace, locations: Locations) -> int:
    """Print the running bot's health; exit 0 ok, 1 degraded, 2 failing, not running or
    unreadable."""
    from tradebot_tui.away.health import HEALTH_FILE, read_health

    path = locations.data_dir / HEALTH_FILE
    status, report = read_health(path)
    if args.json:
        print(json.dumps({**report, "status": status}, indent=1))
    else:
        print(status_lines(status, report, path))
    return {"ok": EXIT_OK, "degraded": 1}.get(status, EXIT_USAGE)


def status_lines(status: str, report: dict[str, Any], path: Path) -> str:
    """The health report in a few lines, for a person."""
    if status == "not running" and not report:
        return f"{PROG}: not running (no health report at {path})"
    if status == "unreadable":
        return f"{PROG}: {report['reasons'][0]}"
    if report.get("status") == "stopped":
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(float(report["time"]), UTC)
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
        if report.get("exits_on_exchange"):
            bare = report.get("unprotected_on_exchange") or []
            lines.append(
                f"exits on the exchange: {len(positions) - len(bare)} of {len(positions)} "
                "position(s) protected" + (f" (not: {', '.join(bare)})" if bare else "")
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
