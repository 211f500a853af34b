"""What the Line-API tables share: rows under a one-line header, and a cursor on them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.scroll_view import ScrollView
from textual.strip import Strip


class CursorRows(ScrollView, can_focus=True):
    """A cursor over `_row_total()` rows drawn below a header line; keys move it.

    Subclasses build the header's and each row's strip (kept until they change; forgotten
    in `_forget_strips`), say how many rows there are and how wide a row's strip is, give
    the cursor's and the blank lines' styles, and hear of each move in `_cursor_changed`.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cursor = 0
        self._strip_width = 0  # the widget's width the kept strips were built for
        self._styles: dict[str, Style] = {}  # component styles, kept until the CSS changes
        self._base_style: Style | None = None  # the widget's own, when they were built

    def _row_total(self) -> int:
        raise NotImplementedError

    def _line_width(self) -> int:
        raise NotImplementedError

    def _cursor_changed(self) -> None:
        """The cursor is on another row now."""

    def _header_strip(self) -> Strip:
        raise NotImplementedError

    def _row_strip_at(self, index: int) -> Strip:
        raise NotImplementedError

    def _forget_strips(self) -> None:
        raise NotImplementedError

    def _cursor_style(self) -> Style:
        raise NotImplementedError

    def _blank_style(self) -> Style:
        raise NotImplementedError

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._strip_width:
            self._strip_width = width
            self._forget_strips()
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            # The styles kept are built on the widget's own, which takes its colour from
            # its ancestors: Textual tells a widget when its own styles change
            # (`notify_style_update`), not when a parent's do. A table first drawn before
            # the screen's styles were applied kept text in its background colour.
            base = self.rich_style
            if base != self._base_style:
                self._base_style = base
                self._styles.clear()
                self._forget_strips()
            strip = self._header_strip()
        else:
            index = scroll_y + y - 1
            if index >= self._row_total():
                return Strip.blank(width, self._blank_style())
            strip = self._row_strip_at(index)
            if index == self.cursor:
                cursor = self._cursor_style()
                strip = Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
        if scroll_x == 0 and strip.cell_length == width:
            return strip
        return strip.crop_extend(scroll_x, scroll_x + width, self._blank_style())

    def move_cursor(self, row: int) -> None:
        total = self._row_total()
        if not total:
            return
        old = self.cursor
        self.cursor = max(0, min(total - 1, row))
        if old != self.cursor:
            self._refresh_row(old)
            self._refresh_row(self.cursor)
            self._cursor_changed()
        visible = max(1, self.size.height - 1)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        self.move_cursor(self._row_total() - 1 if where < 0 else 0)

    def _refresh_row(self, index: int) -> None:
        """Redraw the line of row `index` if it is on screen (the header is line 0)."""
        self._refresh_rows((index,))

    def _refresh_rows(self, indices: Iterable[int]) -> None:
        """Redraw the lines of the rows `indices` that are on screen, in one call (each
        `refresh` costs about as much as drawing a row)."""
        top, height = self.scroll_offset.y, self.size.height
        width = max(self.size.width, self._line_width())
        regions = [Region(0, y, width, 1) for i in indices if 1 <= (y := i - top + 1) < height]
        if regions:
            self.refresh(*regions)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._forget_strips()
