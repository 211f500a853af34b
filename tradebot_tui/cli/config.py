"""`tradebot-tui config init|check|path`: create, check or find the config file."""

from __future__ import annotations

import argparse
from typing import Any

from tradebot_tui.cli.common import EXIT_OK, credentials_note
from tradebot_tui.config.credentials import SecretsError
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.store import init_config, load_settings
from tradebot_tui.wiring.checks import check_run


def add_parser(commands: Any) -> None:
    config = commands.add_parser("config", help="create, check or find the config file")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="write a commented config of defaults")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    check = actions.add_parser(
        "check",
        help="check the config file as a start would (exit 2 if bad, every problem listed)",
    )
    path = actions.add_parser("path", help="print the config file's path")
    for action in (init, check, path):  # --config before or after the action alike
        action.add_argument(
            "--config", metavar="FILE", default=argparse.SUPPRESS, help="config file to use"
        )
    config.set_defaults(func=run)


def run(args: argparse.Namespace, locations: Locations) -> int:
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
    check_run(settings, locations)
    print(locations.config_note())
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
