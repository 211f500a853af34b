"""The header line: mode, run state, equity, free budget, PnL today, feed health, time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.markup import escape

from tradebot_tui.core.display import fmt_money
from tradebot_tui.engine import RunState
from tradebot_tui.ui.widgets.text_line import TextLine

if TYPE_CHECKING:
    from tradebot_tui.engine import EngineSnapshot, ReplayStatus

_STATE = {
    RunState.STARTING: ("STARTING", "$secondary"),
    RunState.RUNNING: ("● RUNNING", "$success"),
    RunState.PAUSED: ("⏸ ENTRIES PAUSED", "$warning"),
    RunState.STOPPING: ("STOPPING", "$secondary"),
}
_MODE_STYLE = {"LIVE": "$error", "REPLAY": "$accent"}


def fmt_clock(ts_ms: int) -> str:
    """Engine time as `2026-01-01 00:12:03 UTC`."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts_ms / 1000))


def fmt_speed(speed: float) -> str:
    return f"x{speed:,.0f}" if speed >= 1 else f"x{speed:g}"


def replay_text(r: ReplayStatus) -> str:
    if r.done:
        return "[b $success]■ replay done[/]"
    icon = "[b $warning]⏸[/]" if r.paused else "[b $success]▶[/]"
    return f"{icon} {fmt_speed(r.speed)} [$secondary]{r.progress:.0%}[/]"


def feed_text(snap: EngineSnapshot) -> str:
    if snap.replay is not None:
        return replay_text(snap.replay)
    if snap.feed:
        ok = snap.feed.startswith("live")
        return f"Feed [{'$success' if ok else '$warning'}]{snap.feed}[/]"
    if snap.source == "simulated":
        return "Feed [$success]simulated[/]"
    return f"Feed [$secondary]{snap.source}[/]"


class StatusBar(TextLine):
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
        badge = f"[b reverse {_MODE_STYLE.get(mode, '$primary')}] {mode} [/]"
        if snap is None:
            self.set_text(f"{badge}  [$secondary]starting the engine…[/]")
            return
        if snap.circuit.startswith("circuit open"):
            state = f"[b reverse $warning] {snap.circuit.upper()} [/]"
        else:
            text, style = _STATE[snap.state]
            state = f"[b {style}]{text}[/]"
            if snap.circuit:
                state += f"  [b $warning]{snap.circuit}[/]"
        if snap.problems:
            state += f"  [b $error]⚠ {escape('; '.join(snap.problems))}[/]"
        today = snap.pnl_today
        today_style = "$success" if today > 0 else "$error" if today < 0 else "$foreground"
        parts = [
            badge,
            state,
            f"Equity [b]{fmt_money(snap.equity)}[/] {snap.quote}",
            f"Free [b]{fmt_money(snap.free)}[/]",
            f"Today [{today_style}]{fmt_money(today, sign=True)}[/]",
            f"Pos [b]{snap.open_positions}/{snap.max_positions}[/]",
            feed_text(snap),
            *([f"[$secondary]{escape(snap.away)}[/]"] if snap.away else []),
            f"[$secondary]{fmt_clock(snap.ts_ms) if snap.ts_ms else ''}[/]",
        ]
        self.set_text("  ".join(parts))
