"""The watchlist table on Textual's Line API: hundreds of rows at several redraws a second.

A `ScrollView` whose `render_line` draws one row; each row's strip is built when it is
first drawn after a change and kept until the row changes again, so a snapshot costs a
comparison per row and a redraw of the visible rows that changed (CONVENTIONS.md: 1-3 %
CPU for 500 rows at 5 Hz, against ~40 % for `DataTable.update_cell`). The header line
stays on top while the rows scroll under it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip

from tradebot_tui.core.display import fmt_duration, fmt_price
from tradebot_tui.core.status import Status
from tradebot_tui.ui.widgets.cursor_rows import CursorRows

if TYPE_CHECKING:
    from tradebot_tui.engine import WatchRow

SPARK_CHARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 24


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    right: bool
    sort_key: Callable[[WatchRow], Any]


def _nums(value: float | None) -> tuple[int, float]:
    # Rows without a value sort after every row with one, both ways round.
    return (1, 0.0) if value is None else (0, value)


def _symbol_of(row: WatchRow) -> str:
    return row.symbol


def hour_change(row: WatchRow) -> float | None:
    """Change over the sparkline's hour, in percent."""
    spark = row.spark
    if len(spark) < 2 or not spark[0]:
        return None
    return (spark[-1] / spark[0] - 1) * 100


COLUMNS: tuple[Column, ...] = (
    Column("symbol", "Symbol", 13, False, lambda r: r.symbol),
    Column("last", "Last", 14, True, lambda r: _nums(r.last)),
    Column("anchor", "Anchor", 14, True, lambda r: _nums(r.anchor)),
    Column("drop", "Drop", 8, True, lambda r: _nums(r.drop_pct)),
    Column("to_trigger", "To trigger", 12, True, lambda r: _nums(r.to_trigger_pct)),
    Column("hour", "1h", 7, True, lambda r: _nums(hour_change(r))),
    Column("spark", "Last hour", SPARK_WIDTH, False, lambda r: _nums(hour_change(r))),
    Column("status", "Why not buying", 24, False, lambda r: (r.status.value, r.symbol)),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
_STATUS_COMPONENT = {
    Status.IN_POSITION: "up",
    Status.BUYING: "near",
    Status.SELLING: "near",
    Status.WATCHING: "",
    Status.ERROR: "hot",
    Status.MISMATCH: "hot",
    Status.CIRCUIT_OPEN: "warn",
    Status.PAUSED: "warn",
    Status.SYMBOL_PAUSED: "warn",
    Status.MAX_POSITIONS: "warn",
    Status.BUDGET: "warn",
    Status.BELOW_MINIMUM: "warn",
    Status.DAILY_LOSS: "warn",
    Status.DRAWDOWN: "warn",
    Status.STALE: "warn",
    Status.UNKNOWN: "hot",
    Status.UNEXPLAINED: "hot",
    Status.IN_POSITION_REST: "warn",
    Status.RECOVERING: "warn",
}


def sparkline(values: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """`values` as block characters, at most `width` of them (the last ones kept)."""
    if not values:
        return ""
    if len(values) > width:
        # One character per bucket of points: the bucket's last value (a close).
        n = len(values)
        values = [values[min(n - 1, (i + 1) * n // width - 1)] for i in range(width)]
    low, high = min(values), max(values)
    if high <= low:
        return SPARK_CHARS[3] * len(values)
    scale = (len(SPARK_CHARS) - 1) / (high - low)
    return "".join(SPARK_CHARS[int((v - low) * scale)] for v in values)


def drop_level(row: WatchRow, trigger: float) -> str:
    """How close the drop is to the trigger, as a component name ("" for far)."""
    if row.drop_pct is None or trigger <= 0:
        return ""
    ratio = row.drop_pct / trigger
    if ratio >= 1:
        return "hot"
    if ratio >= 0.75:
        return "warn"
    if ratio >= 0.5:
        return "near"
    return ""


def row_cells(row: WatchRow, trigger: float) -> list[tuple[str, str]]:
    """Each column's text and component name (for its colour)."""
    level = drop_level(row, trigger)
    if row.drop_pct is None:
        drop = to_go = "—"
    else:
        drop = f"{row.drop_pct:.2f}%"
        to = row.to_trigger_pct or 0.0
        to_go = "reached" if to <= 0 else f"{to:.2f}%"
    change = hour_change(row)
    status = row.status.value
    if row.status_ms and row.status in (Status.WARMING_UP, Status.COOLDOWN):
        status += f" {fmt_duration(row.status_ms)}"
    if row.outside:
        status += " · outside universe"
    return [
        (row.symbol, "symbol"),
        (fmt_price(row.last, row.decimals), ""),
        (fmt_price(row.anchor, row.decimals), "muted"),
        (drop, level),
        (to_go, level),
        (
            "—" if change is None else f"{change:+.2f}%",
            "" if change is None else ("up" if change > 0 else "down" if change < 0 else ""),
        ),
        (sparkline(row.spark), "spark"),
        (status, _STATUS_COMPONENT.get(row.status, "muted")),
    ]


class WatchTable(CursorRows):
    """Sortable, filterable rows of the watchlist with a cursor."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "watch-table--header",
        "watch-table--sorted",
        "watch-table--cursor",
        "watch-table--symbol",
        "watch-table--muted",
        "watch-table--up",
        "watch-table--down",
        "watch-table--near",
        "watch-table--warn",
        "watch-table--hot",
        "watch-table--spark",
    }
    DEFAULT_CSS = """
    WatchTable {
        background: $surface;
        scrollbar-gutter: stable;
        & > .watch-table--header { background: $panel; color: $foreground; text-style: bold; }
        & > .watch-table--sorted { background: $panel; color: $accent; text-style: bold; }
        & > .watch-table--cursor { background: $block-cursor-background; }
        & > .watch-table--symbol { text-style: bold; }
        & > .watch-table--muted { color: $text-muted; }
        & > .watch-table--up { color: $success; }
        & > .watch-table--down { color: $error; }
        & > .watch-table--near { color: $accent; }
        & > .watch-table--warn { color: $warning; }
        & > .watch-table--hot { color: $error; text-style: bold; }
        & > .watch-table--spark { color: $primary; }
    }
    """

    sort_column: reactive[str] = reactive("symbol")
    sort_reverse: reactive[bool] = reactive(False)
    filter_text: reactive[str] = reactive("")

    class CursorMoved(Message):
        """The cursor is on another symbol (None: the table is empty)."""

        def __init__(self, symbol: str | None) -> None:
            super().__init__()
            self.symbol = symbol

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[str, WatchRow] = {}
        self._order: list[str] = []  # symbols shown, sorted and filtered
        # Each drawn row's strip with the row it was drawn from: checked when drawn again.
        self._strips: dict[str, tuple[WatchRow, Strip]] = {}
        self._trigger = 0.0
        self._cursor_symbol: str | None = None
        self._width = sum(c.width + 1 for c in COLUMNS) + 1

    # -- data ------------------------------------------------------------------------------

    @property
    def shown(self) -> list[str]:
        """The symbols shown, in order."""
        return list(self._order)

    @property
    def selected(self) -> str | None:
        return self._order[self.cursor] if 0 <= self.cursor < len(self._order) else None

    def update_rows(self, rows: Sequence[WatchRow], trigger: float) -> None:
        """Take a snapshot's rows; redraw only the visible rows that changed.

        Only the visible rows are compared (a strip is checked against its row when it
        is drawn): a snapshot of 500 rows costs the rows on screen, not all of them.
        """
        if trigger != self._trigger:
            self._trigger = trigger
            self._strips.clear()
        old = self._rows
        new = {row.symbol: row for row in rows}
        self._rows = new
        if new.keys() != old.keys() or self.sort_column != "symbol":
            for gone in old.keys() - new.keys():
                self._strips.pop(gone, None)
            self._resort()
            return
        top = self.scroll_offset.y
        visible = self._order[top : top + self.size.height]
        self._refresh_rows(
            top + i for i, symbol in enumerate(visible) if old.get(symbol) != new[symbol]
        )

    def _resort(self) -> None:
        column = next(c for c in COLUMNS if c.key == self.sort_column)
        needle = self.filter_text.strip().lower()
        rows: list[WatchRow] = list(self._rows.values())
        if needle:
            rows = [r for r in rows if needle in r.symbol.lower() or needle in r.status.value]
        if column.key != "symbol":
            # Ties keep an alphabetical order, whatever the direction (sorts are stable).
            rows.sort(key=_symbol_of)
        ordered = sorted(rows, key=column.sort_key, reverse=self.sort_reverse)
        order = [r.symbol for r in ordered]
        selected = self._cursor_symbol
        self._order = order
        self.virtual_size = Size(self._width, len(order) + 1)
        if selected in order:
            self.cursor = order.index(selected)
        else:
            self.cursor = min(self.cursor, max(0, len(order) - 1))
        self._cursor_changed()
        self.refresh()

    def watch_sort_column(self) -> None:
        self._strips.clear()
        self._resort()

    def watch_sort_reverse(self) -> None:
        self._resort()

    def watch_filter_text(self) -> None:
        self.cursor = 0
        self._resort()
        self.scroll_to(y=0, animate=False)

    def sort_by(self, key: str) -> None:
        """Sort by column `key`; the same column again reverses the order."""
        if key == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_reverse = key not in ("symbol", "status", "to_trigger")
            self.sort_column = key

    # -- cursor ----------------------------------------------------------------------------

    def _cursor_changed(self) -> None:
        symbol = self.selected
        if symbol != self._cursor_symbol:
            self._cursor_symbol = symbol
            self.post_message(self.CursorMoved(symbol))

    def _row_total(self) -> int:
        return len(self._order)

    def _line_width(self) -> int:
        return self._width

    def on_click(self, event: Click) -> None:
        if event.y == 0:
            x = event.x + self.scroll_offset.x
            for column in COLUMNS:
                if x < column.width + 1:
                    self.sort_by(column.key)
                    return
                x -= column.width + 1
            return
        self.move_cursor(self.scroll_offset.y + event.y - 1)

    # -- drawing ---------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        """A component's style on top of the widget's (cached until the CSS changes)."""
        style = self._styles.get(name)
        if style is None:
            base = self.rich_style
            if name == "base":
                style = base
            else:
                style = base + self.get_component_rich_style(f"watch-table--{name}", partial=True)
            self._styles[name] = style
        return style

    def _header_strip(self) -> Strip:
        base = self._style("header")
        sorted_style = self._style("sorted")
        segments = [Segment(" ", base)]
        for column in COLUMNS:
            label = column.label
            style = base
            if column.key == self.sort_column:
                # Room for the arrow even when the title fills the column.
                arrow = " ▼" if self.sort_reverse else " ▲"
                label = label[: column.width - len(arrow)] + arrow
                style = sorted_style
            text = label.rjust(column.width) if column.right else label.ljust(column.width)
            segments.append(Segment(text[: column.width] + " ", style))
        return self._pad(segments, base)

    def _pad(self, segments: list[Segment], style: Style) -> Strip:
        """A strip as wide as the widget's lines (or the table, when that is wider)."""
        width = self._strip_width
        if width > self._width:
            segments.append(Segment(" " * (width - self._width), style))
        return Strip(segments, max(width, self._width))

    def _row_strip(self, symbol: str) -> Strip:
        row = self._rows[symbol]
        drawn = self._strips.get(symbol)
        if drawn is not None and (drawn[0] is row or drawn[0] == row):
            return drawn[1]
        base = self._style("base")
        segments = [Segment(" ", base)]
        for column, (text, component) in zip(COLUMNS, row_cells(row, self._trigger), strict=True):
            style = self._style(component) if component else base
            width = column.width
            cell = text.rjust(width) if column.right else text.ljust(width)
            segments.append(Segment(cell[:width] + " ", style))
        strip = self._pad(segments, base)
        self._strips[symbol] = (row, strip)
        return strip

    def _row_strip_at(self, index: int) -> Strip:
        return self._row_strip(self._order[index])

    def _forget_strips(self) -> None:
        self._strips.clear()

    def _cursor_style(self) -> Style:
        cursor = self._style("cursor")
        return cursor if self.has_focus else cursor + Style(dim=True)

    def _blank_style(self) -> Style:
        return self._style("base")

    def on_focus(self) -> None:
        self._refresh_row(self.cursor)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor)
