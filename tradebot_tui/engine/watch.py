"""The run's state and one watchlist row: what the app's first frame needs of the
snapshot types, apart from the rest of them (`engine.snapshot`), whose dataclasses were
a tenth of the app's imports before that frame."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from tradebot_tui.core.status import Status


class RunState(StrEnum):
    """The engine as a whole."""

    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"


class WatchRow(NamedTuple):
    """One symbol of the watchlist (a tuple: hundreds are built and compared per snapshot)."""

    symbol: str
    last: float | None
    anchor: float | None
    drop_pct: float | None
    to_trigger_pct: float | None
    status: Status
    status_ms: int
    decimals: int
    # Minute closes of the last hour, the current minute last.
    spark: tuple[float, ...] = ()
    # Held, and fed only because it is held: the universe no longer includes it.
    outside: bool = False
