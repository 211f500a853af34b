"""The header line: mode, run state, equity, free budget, positions, engine time."""

from __future__ import annotations

import time

from textual.widgets import Static

from tradebot_tui.core.display import fmt_money
from tradebot_tui.engine.snapshot import EngineSnapshot, RunState

_STATE = {
    RunState.STARTING: ("STARTING", "$secondary"),
    RunState.RUNNING: ("● RUNNING", "$success"),
    RunState.PAUSED: ("⏸ ENTRIES PAUSED", "$warning"),
    RunState.STOPPING: ("STOPPING", "$secondary"),
}


def fmt_clock(ts_ms: int) -> str:
    """Engine time as `2026-01-01 00:12:03 UTC`."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts_ms / 1000))


class StatusBar(Static):
    """One line across the top of every screen."""

    DEFAULT_CSS = """
    StatusBar {
        dock: top;
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    """

    def show(self, snap: EngineSnapshot | None, *, mode: str = "PAPER") -> None:
        """Redraw from a snapshot (None before the engine's first one)."""
        badge_style = "$error" if mode == "LIVE" else "$primary"
        badge = f"[b reverse {badge_style}] {mode} [/]"
        if snap is None:
            self.update(f"{badge}  [$secondary]starting the engine…[/]")
            return
        state, state_style = _STATE[snap.state]
        pnl = snap.total_pnl
        pnl_style = "$success" if pnl > 0 else "$error" if pnl < 0 else "$foreground"
        parts = [
            badge,
            f"[b {state_style}]{state}[/]",
            f"Equity [b]{fmt_money(snap.equity)}[/] {snap.quote}",
            f"Free [b]{fmt_money(snap.free)}[/]",
            f"Positions [b]{snap.open_positions}/{snap.max_positions}[/]",
            f"PnL [{pnl_style}]{fmt_money(pnl, sign=True)}[/]",
            f"[$secondary]{fmt_clock(snap.ts_ms) if snap.ts_ms else ''}[/]",
        ]
        if snap.circuit:
            parts.insert(2, f"[b reverse $warning] {snap.circuit} [/]")
        if snap.feed:
            ok = snap.feed == "live"
            parts.insert(2, f"Feed [{'$success' if ok else '$warning'}]{snap.feed}[/]")
        self.update("  ".join(parts))
