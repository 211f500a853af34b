"""`tradebot-tui locate`: every file and folder the app uses."""

from __future__ import annotations

import argparse
from typing import Any

from tradebot_tui.cli.common import EXIT_OK
from tradebot_tui.config.locations import Locations


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("locate", help="print where config, secrets, data and logs live")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, locations: Locations) -> int:
    for name, path in locations.as_rows():
        state = "" if path.exists() else "  (not created yet)"
        print(f"{name:<11} {path}{state}")
    return EXIT_OK
