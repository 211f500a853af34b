"""The live runtime: trio services in one nursery, control commands, snapshots for the UI.

What the rest of the house uses of it is named here (`__all__`); the UI imports nothing
else from this package. Nothing here imports textual.
"""

from tradebot_tui.engine.commands import (
    LIVE_SECTIONS,
    AcceptBalance,
    ApplySettings,
    CancelOrder,
    Command,
    ExitAll,
    ExitPosition,
    Focus,
    KillSwitch,
    PauseEntries,
    ReplayAction,
    ReplayControl,
    ResumeEntries,
    RetryNow,
    TogglePause,
    ToggleSymbol,
)
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.host import GuestRun, run_headless
from tradebot_tui.engine.logs import LogLine, LogRing
from tradebot_tui.engine.services import Service
from tradebot_tui.engine.snapshot import (
    EngineSnapshot,
    OrderRow,
    PositionRow,
    ReplayStatus,
    RunState,
    TallyRow,
    TradeHistory,
    WatchRow,
)

__all__ = [
    "LIVE_SECTIONS",
    "AcceptBalance",
    "ApplySettings",
    "CancelOrder",
    "Command",
    "Engine",
    "EngineSnapshot",
    "ExitAll",
    "ExitPosition",
    "Focus",
    "GuestRun",
    "KillSwitch",
    "LogLine",
    "LogRing",
    "OrderRow",
    "PauseEntries",
    "PositionRow",
    "ReplayAction",
    "ReplayControl",
    "ReplayStatus",
    "ResumeEntries",
    "RetryNow",
    "RunState",
    "Service",
    "TallyRow",
    "TogglePause",
    "ToggleSymbol",
    "TradeHistory",
    "WatchRow",
    "run_headless",
]
