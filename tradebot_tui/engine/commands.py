"""Control commands the UI (or a signal) sends to the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tradebot_tui.config.settings import Settings
    from tradebot_tui.engine.snapshot import ReplayStatus


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
    """Close one position at market now; `remote`: asked from away (Telegram), so its
    result is news for the owner's phone, not the answer to a key."""

    symbol: str
    remote: bool = False


@dataclass(frozen=True, slots=True)
class ExitAll:
    """Close every open position at market now (`remote` as for ExitPosition)."""

    remote: bool = False


@dataclass(frozen=True, slots=True)
class KillSwitch:
    """The kill switch tripped (the monitor sends it): sell everything, stop entries."""

    reason: str


@dataclass(frozen=True, slots=True)
class ToggleSymbol:
    """Pause new entries on one symbol, or resume them; its exits go on."""

    symbol: str


@dataclass(frozen=True, slots=True)
class RetryNow:
    """Settle the order in doubt of a coin in error now (do not wait for the back-off)."""

    symbol: str


@dataclass(frozen=True, slots=True)
class AcceptBalance:
    """Take the exchange's quote balance as right (after a deposit or a withdrawal)."""


@dataclass(frozen=True, slots=True)
class SweepDust:
    """Convert the dust the bot holds to BNB (`engine.sweeper`)."""


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one open order on the exchange."""

    client_id: str


# Settings sections a running engine applies at once; the others wait for the next start.
LIVE_SECTIONS = ("strategy", "risk", "exits")


@dataclass(frozen=True, slots=True)
class ApplySettings:
    """Use new strategy, risk and exit settings from now on (validated already)."""

    settings: Settings


@dataclass(frozen=True, slots=True)
class Focus:
    """Publish the chart data of this symbol in every snapshot (None: of none)."""

    symbol: str | None


ReplayAction = Literal["pause", "step", "faster", "slower"]


@dataclass(frozen=True, slots=True)
class ReplayControl:
    """Pause or resume a replay, step it by a minute, or change its speed."""

    action: ReplayAction


@runtime_checkable
class ReplayControllable(Protocol):
    """A market-data source that is a replay: it takes `ReplayControl` actions."""

    def control(self, action: ReplayAction) -> None: ...

    def replay_status(self) -> ReplayStatus: ...


Command = (
    PauseEntries
    | ResumeEntries
    | TogglePause
    | ExitPosition
    | ExitAll
    | KillSwitch
    | ToggleSymbol
    | RetryNow
    | AcceptBalance
    | CancelOrder
    | SweepDust
    | ApplySettings
    | Focus
    | ReplayControl
)
