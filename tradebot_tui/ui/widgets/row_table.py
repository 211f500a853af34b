"""Keyed tables on Textual's Line API, for the positions and orders screens.

Textual's `DataTable` renders every cell through Rich (text, padding, line splitting) and
keys its render caches by a table-wide update count, so one changed cell re-renders every
cell: five positions cost 20-35 ms a screen switch under the UI benchmark's load. Here a row
is one strip of plain segments, built when it is first drawn after a change and kept until
the row (or the column widths, the theme or the focus) changes. The look is DataTable's:
a bold header on the panel colour, zebra stripes, a block cursor, columns as wide as their
widest text with a space either side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from tradebot_tui.ui.widgets.cursor_rows import CursorRows

Part = tuple[str, str]
"""Text and the component it is drawn in ("" for the table's own colours)."""
Cell = tuple[Part, ...]
COMPONENTS = ("bold", "muted", "up", "down")


def cell(text: str, component: str = "") -> Cell:
    """A cell of one text in one component: "bold", "muted", "up", "down" or ""."""
    return ((text, component),)


def outside_mark(symbol: str, *, outside: bool) -> Cell:
    """A symbol cell, marked when the coin is held outside the universe (still watched)."""
    if outside:
        return ((symbol, "bold"), (" · outside universe", "muted"))
    return ((symbol, "bold"),)


def cell_width(value: Cell) -> int:
    return sum(cell_len(text) for text, _ in value)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    right: bool = False


class RowTable(CursorRows):
    """Rows under a header, each with a key; a cursor that stays on its row's key."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "row-table--header",
        "row-table--even",
        "row-table--cursor",
        *(f"row-table--{name}" for name in COMPONENTS),
    }
    DEFAULT_CSS = """
    RowTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .row-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .row-table--header { background-tint: $foreground 5%; }
        }
        &:dark > .row-table--even { background: $surface-darken-1 40%; }
        & > .row-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .row-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .row-table--even { background: $surface-lighten-1 50%; }
        & > .row-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .row-table--bold { text-style: bold; color: $foreground; }
        & > .row-table--muted { color: $text-muted; text-style: not bold; }
        & > .row-table--up { color: $success; }
        & > .row-table--down { color: $error; }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Select", show=False),
    ]

    class RowSelected(Message):
        """Enter (or a click on the cursor's row) on the row with this key."""

        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(
        self, columns: Sequence[Column], *, zebra: bool = True, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.zebra = zebra
        self._rows: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self._strips: dict[str, Strip] = {}
        self._widths = [cell_len(c.label) for c in self.columns]

    def on_mount(self) -> None:
        # The header shows before the first rows come, and with none (as DataTable's).
        self.virtual_size = Size(self._table_width, len(self._order) + 1)

    # -- data ------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor (None for an empty table)."""
        return self._order[self.cursor] if 0 <= self.cursor < len(self._order) else None

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        """Show `rows` (key, cells) in order; redraw only the visible rows that changed."""
        new = {key: tuple(cells) for key, cells in rows}
        if len(new) != len(rows):
            raise ValueError("RowTable.set_rows: two rows have the same key")
        widths = [cell_len(c.label) for c in self.columns]
        for cells in new.values():
            if len(cells) != len(self.columns):
                raise ValueError(
                    f"RowTable.set_rows: a row has {len(cells)} cells for "
                    f"{len(self.columns)} columns"
                )
            widths = [max(w, cell_width(value)) for w, value in zip(widths, cells, strict=True)]
        order = [key for key, _ in rows]
        old = self._rows
        self._rows = new
        if widths != self._widths or order != self._order:
            selected = self.cursor_key  # of the order shown until now
            self._widths = widths
            self._order = order
            self._strips.clear()
            self.virtual_size = Size(self._table_width, len(order) + 1)
            if selected in new:
                self.cursor = order.index(selected)
            else:
                self.cursor = min(self.cursor, max(0, len(order) - 1))
            self.refresh()
            return
        changed = [i for i, key in enumerate(order) if old[key] != new[key]]
        for index in changed:
            self._strips.pop(order[index], None)
        self._refresh_rows(changed)

    @property
    def _table_width(self) -> int:
        return sum(w + 2 for w in self._widths)

    # -- cursor ----------------------------------------------------------------------------

    def _row_total(self) -> int:
        return len(self._order)

    def _line_width(self) -> int:
        return self._table_width

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: Click) -> None:
        if event.y == 0:
            return
        row = self.scroll_offset.y + event.y - 1
        if row >= len(self._order):
            return
        if row == self.cursor:
            self.action_select()
        else:
            self.move_cursor(row)

    # -- drawing ---------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        """A row's style ("", "even", "header", "cursor"), with a component's colour and
        weight on top after a "+" ("even+up"); kept until the CSS or the focus changes.

        Full component styles, as DataTable takes them: their translucent backgrounds and
        automatic colours are blended over the widget's background.
        """
        style = self._styles.get(name)
        if style is None:
            row, _, component = name.partition("+")
            style = self.get_component_rich_style(f"row-table--{row}") if row else self.rich_style
            if component:
                top = self.get_component_rich_style(f"row-table--{component}")
                style += Style(color=top.color, bold=top.bold)
            self._styles[name] = style
        return style

    def _line(self, cells: Sequence[Cell], row_style: str) -> Strip:
        base = self._style(row_style)
        segments: list[Segment] = []
        for column, width, value in zip(self.columns, self._widths, cells, strict=True):
            pad = " " * (width - cell_width(value))
            segments.append(Segment(" " + pad if column.right else " ", base))
            for text, component in value:
                style = self._style(f"{row_style}+{component}") if component else base
                segments.append(Segment(text, style))
            segments.append(Segment(" " if column.right else pad + " ", base))
        table_width = self._table_width
        width = max(self._strip_width, table_width)
        if width > table_width:
            segments.append(Segment(" " * (width - table_width), base))
        return Strip(segments, width)

    def _row_strip_at(self, index: int) -> Strip:
        key = self._order[index]
        strip = self._strips.get(key)
        if strip is None:
            row_style = "even" if self.zebra and index % 2 == 0 else ""
            strip = self._strips[key] = self._line(self._rows[key], row_style)
        return strip

    def _header_strip(self) -> Strip:
        return self._line(tuple(cell(c.label) for c in self.columns), "header")

    def _forget_strips(self) -> None:
        self._strips.clear()

    def _cursor_style(self) -> Style:
        return self._style("cursor")

    def _blank_style(self) -> Style:
        return self._style("")

    def _restyle(self) -> None:
        # The focus changes the cursor's and the background's colours.
        self.notify_style_update()
        self.refresh()

    def on_focus(self) -> None:
        self._restyle()

    def on_blur(self) -> None:
        self._restyle()
