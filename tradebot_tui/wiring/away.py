"""The services off the trading path, made from the secrets and settings and plugged
into an engine: the owner's notifications, Telegram remote control, alerts, the health
file and the metrics endpoint (docs/architecture.md, "Services off the trading path")."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from tradebot_tui.away.monitor import Monitor
from tradebot_tui.away.notifier import AppriseSender, Notifier
from tradebot_tui.config.credentials import SecretsError, load_notify_urls, load_telegram
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.engine import Engine

if TYPE_CHECKING:  # Telegram's HTTP client is imported only when it is set up
    from tradebot_tui.away.telegram import TelegramRemote


def make_notifier(settings: Settings, locations: Locations) -> Notifier | None:
    """The owner's notifications, when Apprise URLs are set (secrets file or environment).

    URLs that cannot be read turn notifications off, with a warning in the log (the rest
    of the secrets file's trouble is reported with the API keys)."""
    try:
        urls = load_notify_urls(locations.secrets_file)
    except SecretsError as exc:
        logging.getLogger("tradebot.notify").warning("notifications off: %s", exc)
        return None
    if not urls:
        return None
    return Notifier(AppriseSender(list(urls)), settings.notify)


def make_remote(settings: Settings, locations: Locations) -> TelegramRemote | None:
    """Telegram remote control, when a bot token and chats are set (secrets or environment).

    A token that cannot be read turns it off, with a warning in the log."""
    try:
        access = load_telegram(locations.secrets_file)
    except SecretsError as exc:
        logging.getLogger("tradebot.telegram").warning("telegram off: %s", exc)
        return None
    if access is None:
        return None
    from tradebot_tui.away.telegram import TelegramApi, TelegramRemote

    return TelegramRemote(
        TelegramApi(settings.telegram.api_url, access.token), access, settings.telegram
    )


def plug_away(
    engine: Engine,
    *,
    notifier: Notifier | None = None,
    remote: TelegramRemote | None = None,
    health_file: Path | None = None,
) -> Monitor:
    """Plug the monitor (with the notifier and the remote control) into `engine`: it hears
    the engine's notices, reads its state, and is told when it stops."""
    monitor = Monitor(
        engine.trader,
        engine.views.stats,
        engine.readings,
        engine.context,
        settings=lambda: engine.settings,
        notifier=notifier,
        journal=engine.journal_writer,
        health_file=health_file,
        supervisor=engine.supervisor,
    )
    engine.context.listen(monitor.on_notice)
    if remote is not None:
        from tradebot_tui.away.telegram import Desk

        remote.desk = Desk(
            snapshot=engine.snapshot,
            submit=engine.submit,
            tallies=engine.views.stats,
            health=monitor.reporter.health,
        )
        monitor.services.append(remote)
    engine.add_service(monitor)
    return monitor


def tell_owner(settings: Settings, locations: Locations, title: str, body: str) -> None:
    """A notification now (when notifications are set up), within their deadline: for what
    happens before an engine runs (a journal that keeps the bot from starting)."""
    notifier = make_notifier(settings, locations)
    if notifier is None:
        return
    notifier.add("engine", title, body, "error")
    trio.run(notifier.flush)
