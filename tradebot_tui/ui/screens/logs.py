"""The engine's log lines as they come, newest at the bottom."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import RichLog, Static

from tradebot_tui.assets import stylesheet
from tradebot_tui.engine.logs import LogLine
from tradebot_tui.engine.snapshot import EngineSnapshot
from tradebot_tui.ui.screens.base import TradebotScreen

MAX_LINES = 2000


class LogsScreen(TradebotScreen):
    """A live tail of the engine's log."""

    CSS_PATH = stylesheet("logs")

    def __init__(self) -> None:
        super().__init__()
        self._seq = 0

    def compose_body(self) -> ComposeResult:
        yield Static(id="logs-summary")
        yield RichLog(id="logs-view", max_lines=MAX_LINES, wrap=False, markup=False)

    def show_body(self, snap: EngineSnapshot) -> None:
        ring = self.tb_app.log_ring
        lines = ring.since(self._seq)
        if lines:
            view = self.query_one("#logs-view", RichLog)
            theme = self.app.current_theme
            styles = {
                "WARNING": theme.warning or "yellow",
                "ERROR": f"bold {theme.error or 'red'}",
                "CRITICAL": f"bold {theme.error or 'red'}",
                "INFO": theme.primary,
            }
            for line in lines:
                view.write(self._render_line(line, styles))
            self._seq = lines[-1].seq
        path = self.tb_app.locations.log_dir
        self.query_one("#logs-summary", Static).update(
            f"Last {MAX_LINES:,} lines kept here; the full log is in [b]{path}[/]"
        )

    @staticmethod
    def _render_line(line: LogLine, styles: dict[str, str]) -> Text:
        stamp = time.strftime("%H:%M:%S", time.gmtime(line.ts_ms / 1000))
        text = Text(no_wrap=True)
        text.append(f"{stamp} ", style="dim")
        text.append(f"{line.level:<7} ", style=styles.get(line.level, ""))
        text.append(line.message)
        for key, value in line.fields:
            text.append(f"  {key}={value}", style="dim")
        return text
