"""`tradebot-tui` itself: the app (or `--headless`) trading paper on the simulated market
by default, paper on exchange data, or live after every confirmation."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

from tradebot_tui.cli.common import (
    EXIT_CRASH,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    UsageError,
    credentials_note,
)
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.store import load_settings
from tradebot_tui.core.errors import TradebotError

if TYPE_CHECKING:
    from tradebot_tui.engine import Engine, WatchRow

UI_FPS = 120


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run's options, given before any command (`tradebot-tui --headless`)."""
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, locations: Locations) -> int:
    settings = load_settings(locations.config_file, required=locations.config_explicit)
    from tradebot_tui.journal.store import JournalError

    try:
        return run_bot(args, settings, locations)
    except JournalError as exc:
        from tradebot_tui.wiring.away import tell_owner

        # Nothing trades until the owner decides: they must hear it, wherever they are.
        tell_owner(settings, locations, "Not started: journal problem", str(exc))
        raise


def run_bot(args: argparse.Namespace, settings: Settings, locations: Locations) -> int:
    from tradebot_tui.wiring.checks import check_run

    check_run(settings, locations)  # what `config check` says, in its words
    live = check_live(args, settings, locations)
    keys_note = credentials_note(settings, locations, strict=live)
    from tradebot_tui.config.instance_lock import InstanceLock
    from tradebot_tui.wiring.bot import assemble

    bot = assemble(
        settings,
        locations,
        live=live,
        new_journal=args.new_journal,
        crash_after_s=args.inject_engine_crash,
    )
    # Everything the config asks for is checked: now one process per data dir.
    with InstanceLock(locations.data_dir):
        bot.open_paper_journal()
        return run_engine(
            settings,
            locations,
            bot.engine,
            keys_note,
            headless=args.headless,
            live=live,
            preview=() if args.headless else bot.preview(),
        )


def check_live(args: argparse.Namespace, settings: Settings, locations: Locations) -> bool:
    """Whether this run trades real money; refuses every incomplete way of asking (what
    the settings alone refuse, `check_run` has said already).

    Raises:
        UsageError: live asked for one way but not the other, or without confirmation.
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
    if args.headless and not args.confirm_live:
        raise UsageError(
            "--headless --live also needs --confirm-live (the app asks on screen instead)"
        )
    return True


def run_engine(
    settings: Settings,
    locations: Locations,
    make_engine: Callable[..., Engine],
    keys_note: str,
    *,
    headless: bool = False,
    live: bool = False,
    replay: bool = False,
    preview: tuple[WatchRow, ...] = (),
) -> int:
    """Run an engine headless or in the app, logging to the log dir (and stdout, headless).

    Args:
        make_engine: Builds the engine; takes `publish` and `log_ring` keywords.
        preview: Watchlist rows the app shows until the engine's first snapshot.
    """
    from tradebot_tui.engine.logs import LoggingSetup

    logging_setup = LoggingSetup()
    try:
        logging_setup.start(locations.log_dir, stdout=headless)
        if headless:
            return run_headless(make_engine())
        return run_app(
            settings, locations, make_engine, keys_note, live=live, replay=replay, preview=preview
        )
    finally:
        logging_setup.stop()


def run_headless(engine: Engine) -> int:
    from tradebot_tui.engine import run_headless as host_headless

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
    keys_note: str,
    *,
    live: bool = False,
    replay: bool = False,
    preview: tuple[WatchRow, ...] = (),
) -> int:
    # Textual draws a changed screen one frame period after the app goes idle: at its
    # default 60 frames a second, 17 ms of every first frame and every key's new screen
    # were spent waiting. Set before Textual is imported (it reads it once); a value of
    # the user's own is kept.
    os.environ.setdefault("TEXTUAL_FPS", str(UI_FPS))
    from tradebot_tui.ui.app import TradebotApp

    app = TradebotApp(
        settings,
        locations,
        engine_factory,
        credentials_note=keys_note,
        live=live,
        replay=replay,
        preview=preview,
    )
    try:
        app.run()
    finally:
        gc.enable()  # off for the launch (`tradebot_tui.launch`), if the app never drew

    if app.left_open:  # said where the trader reads it, after the screen is restored
        print(f"{PROG} {app.left_open}.")
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
