"""The journal of a run: one per mode and profile, so that state survives restarts in
paper as in live (docs/architecture.md, "The journal")."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.journal.store import Journal, move_aside


def tell_stderr(text: str) -> None:
    print(f"tradebot-tui: {text}", file=sys.stderr)


def open_journal(
    settings: Settings,
    locations: Locations,
    *,
    live: bool,
    new_journal: bool = False,
    say: Callable[[str], None] = tell_stderr,
) -> Journal:
    """The journal of this mode and profile.

    A live journal of an older version (`state.db` in the data dir) moves to its new place.
    `new_journal` on paper discards the journal, after saying what it held; on live it
    starts a fresh journal after one was moved aside.
    """
    profile = settings.exchange.profile
    path = locations.journal("live" if live else "paper", profile)
    legacy = locations.legacy_journal
    if live and legacy.exists() and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            old = Path(f"{legacy}{suffix}")
            if old.exists():
                old.replace(Path(f"{path}{suffix}"))
        say(f"the live journal moved from {legacy} to {path}")
    if not live and new_journal and path.exists():
        old_journal = Journal.open(path, profile=profile)
        held = old_journal.summary(settings.budget.quote)
        old_journal.close()
        target = move_aside(path, "discarded")
        say(f"--new-journal: the paper journal ({held}) was moved to {target}; starting fresh")
    return Journal.open(path, profile=profile, new_journal=new_journal)
