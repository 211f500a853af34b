"""The live runtime: trio services in one nursery, control commands, snapshots for the UI.

What the rest of the house uses of it is named here (`__all__`); the UI imports nothing
else from this package. Nothing here imports textual.

The names are loaded on first use (PEP 562): the app draws its first frame with the
commands and snapshot types alone, and imports trio and the engine after it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        SweepDust,
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
        TallyRow,
        TradeHistory,
    )
    from tradebot_tui.engine.watch import RunState, WatchRow


# Each exported name and the module it lives in.
_HOMES = {
    "AcceptBalance": "tradebot_tui.engine.commands",
    "ApplySettings": "tradebot_tui.engine.commands",
    "CancelOrder": "tradebot_tui.engine.commands",
    "Command": "tradebot_tui.engine.commands",
    "Engine": "tradebot_tui.engine.engine",
    "EngineSnapshot": "tradebot_tui.engine.snapshot",
    "ExitAll": "tradebot_tui.engine.commands",
    "ExitPosition": "tradebot_tui.engine.commands",
    "Focus": "tradebot_tui.engine.commands",
    "GuestRun": "tradebot_tui.engine.host",
    "KillSwitch": "tradebot_tui.engine.commands",
    "LIVE_SECTIONS": "tradebot_tui.engine.commands",
    "LogLine": "tradebot_tui.engine.logs",
    "LogRing": "tradebot_tui.engine.logs",
    "OrderRow": "tradebot_tui.engine.snapshot",
    "PauseEntries": "tradebot_tui.engine.commands",
    "PositionRow": "tradebot_tui.engine.snapshot",
    "ReplayAction": "tradebot_tui.engine.commands",
    "ReplayControl": "tradebot_tui.engine.commands",
    "ReplayStatus": "tradebot_tui.engine.snapshot",
    "ResumeEntries": "tradebot_tui.engine.commands",
    "RetryNow": "tradebot_tui.engine.commands",
    "RunState": "tradebot_tui.engine.watch",
    "Service": "tradebot_tui.engine.services",
    "SweepDust": "tradebot_tui.engine.commands",
    "TallyRow": "tradebot_tui.engine.snapshot",
    "TogglePause": "tradebot_tui.engine.commands",
    "ToggleSymbol": "tradebot_tui.engine.commands",
    "TradeHistory": "tradebot_tui.engine.snapshot",
    "WatchRow": "tradebot_tui.engine.watch",
    "run_headless": "tradebot_tui.engine.host",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = vars(import_module(home))[name]
    globals()[name] = value  # once loaded, found without this function
    return value


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
    "SweepDust",
    "TallyRow",
    "TogglePause",
    "ToggleSymbol",
    "TradeHistory",
    "WatchRow",
    "run_headless",
]
