"""Control commands the UI (or a signal) sends to the engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PauseEntries:
    """Stop opening positions; exits go on."""


@dataclass(frozen=True, slots=True)
class ResumeEntries:
    """Open positions again when the strategy says so."""


@dataclass(frozen=True, slots=True)
class TogglePause:
    """Pause entries if running, resume if paused."""


@dataclass(frozen=True, slots=True)
class ExitPosition:
    """Close one position at market now."""

    symbol: str


@dataclass(frozen=True, slots=True)
class ExitAll:
    """Close every open position at market now."""


Command = PauseEntries | ResumeEntries | TogglePause | ExitPosition | ExitAll
