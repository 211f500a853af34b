"""The engine's log lines as they come, newest at the bottom, with a level filter and search."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input, RichLog

from tradebot_tui.assets import stylesheet
from tradebot_tui.engine import EngineSnapshot, LogLine
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.widgets.search_box import SearchBox
from tradebot_tui.ui.widgets.text_line import TextLine

MAX_LINES = 2000
LEVELS = ("INFO", "WARNING", "ERROR")
_RANK = {"DEBUG": 0, "INFO": 1, "WARNING": 2, "ERROR": 3, "CRITICAL": 4}


def matches(line: LogLine, level: str, needle: str) -> bool:
    """Whether a line passes the level filter and contains the search text (any case)."""
    if _RANK.get(line.level, 1) < _RANK[level]:
        return False
    if not needle:
        return True
    if needle in line.message.lower() or needle in line.logger.lower():
        return True
    return any(needle in f"{k}={v}".lower() for k, v in line.fields)


class LogsScreen(TradebotScreen):
    """A live tail of the engine's log (the last lines; the full log is on disk)."""

    CSS_PATH = stylesheet("logs")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "level", "Level", tooltip="Show INFO and up, WARNING and up, or ERROR only"),
        Binding("slash", "search", "Search", tooltip="Show only lines containing a text"),
        Binding("G", "tail", "Follow", tooltip="Jump to the newest line and follow"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._seq = 0
        self.level = "INFO"
        self.needle = ""

    def compose_body(self) -> ComposeResult:
        yield TextLine(id="logs-summary")
        yield SearchBox(
            "search: any text of the message or its fields; Esc clears",
            "#logs-view",
            id="logs-search",
        )
        yield RichLog(id="logs-view", max_lines=MAX_LINES, wrap=False, markup=False)

    def on_mount(self) -> None:
        self.query_one(RichLog).focus()

    def show_body(self, snap: EngineSnapshot) -> None:
        lines = self.tb_app.log_ring.since(self._seq)
        if lines:
            self._write(lines)
            self._seq = lines[-1].seq
        self._summary()

    def _write(self, lines: Iterable[LogLine]) -> None:
        view = self.query_one("#logs-view", RichLog)
        theme = self.app.current_theme
        styles = {
            "WARNING": theme.warning or "yellow",
            "ERROR": f"bold {theme.error or 'red'}",
            "CRITICAL": f"bold {theme.error or 'red'}",
            "INFO": theme.primary,
        }
        needle = self.needle.lower()
        for line in lines:
            if matches(line, self.level, needle):
                view.write(render_log_line(line, styles, theme.accent or "yellow"))

    def _rebuild(self) -> None:
        """Show the kept lines again under the current filter."""
        self.query_one("#logs-view", RichLog).clear()
        lines = self.tb_app.log_ring.since(0)
        self._write(lines)
        self._seq = lines[-1].seq if lines else self._seq
        self._summary()

    def _summary(self) -> None:
        path = self.tb_app.locations.log_dir
        search = f" · search {self.needle!r}" if self.needle else ""
        self.query_one("#logs-summary", TextLine).set_text(
            f"Level [b]{self.level}[/] and up{search} · the last {MAX_LINES:,} lines are kept "
            f"here; the full log is in [b]{path}[/]",
        )

    # -- actions ---------------------------------------------------------------------------

    def action_level(self) -> None:
        self.level = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)]
        self._rebuild()

    def action_search(self) -> None:
        self.query_one(SearchBox).open()

    def action_tail(self) -> None:
        view = self.query_one("#logs-view", RichLog)
        view.auto_scroll = True
        view.scroll_end(animate=False)

    @on(Input.Changed, "#logs-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        self._rebuild()

    def key_escape(self) -> None:
        self.query_one(SearchBox).close()


def render_log_line(line: LogLine, styles: dict[str, str], field_style: str) -> Text:
    """`12:00:03 WARNING message  key=value` with the level coloured and fields set apart."""
    stamp = time.strftime("%H:%M:%S", time.gmtime(line.ts_ms / 1000))
    text = Text(no_wrap=True)
    text.append(f"{stamp} ", style="dim")
    text.append(f"{line.level:<7} ", style=styles.get(line.level, ""))
    text.append(f"{line.logger.removeprefix('tradebot.'):<8} ", style="dim")
    text.append(line.message)
    for key, value in line.fields:
        text.append("  ")
        text.append(f"{key}=", style="dim")
        text.append(value, style=field_style)
    return text
