"""The `tradebot-tui` command: the app (default), --headless, and one module per command
(`locate`, `status`, `trades`, `config`, `replay`, `tune`), each adding its parser and
naming the function that runs it (`set_defaults(func=...)`, as freqtrade's `commands/`).

Heavy imports (textual, trio) happen only on the paths that need them, so that
`--version`, `locate` and `config` answer at once; ccxt is never imported on the default
path.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import sys
import threading
from collections.abc import Sequence

from tradebot_tui import __version__
from tradebot_tui.cli import (
    config,
    download,
    locate,
    replay,
    run,
    status,
    trades,
    tune,
    tune_studies,
)
from tradebot_tui.cli.common import EXIT_USAGE, PROG
from tradebot_tui.config.locations import CONFIG_ENV
from tradebot_tui.config.locations import locate as find_locations
from tradebot_tui.core.errors import TradebotError

COMMANDS = (locate, status, trades, config, download, replay, tune)


def build_parser(*, commands: bool = True) -> argparse.ArgumentParser:
    """The command line's parser; without `commands`, only the options of a run (what a
    launch without arguments needs: the commands' parsers were 6 ms of every start)."""
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
    run.add_arguments(parser)
    if commands:
        subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
        for command in COMMANDS:
            command.add_parser(subparsers)
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
    argv = list(sys.argv[1:] if argv is None else argv)
    # `tune apply|list|show` have parsers (and --help) of their own.
    found = tune_studies.subcommand(argv)
    if found is not None:
        args = found[0].parse_args(found[1])
    else:
        args = build_parser(commands=bool(argv)).parse_args(argv)
    # Off while the program loaded (`tradebot_tui.launch`); the app turns it on once its
    # first frame is out.
    if args.func is not run.run or args.headless:
        gc.enable()
    try:
        return int(args.func(args, find_locations(args.config)))
    except TradebotError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"{PROG}: error: {line}", file=sys.stderr)
        return EXIT_USAGE
