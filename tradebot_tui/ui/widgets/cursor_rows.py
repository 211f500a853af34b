"""What the Line-API tables share: rows under a one-line header, and a cursor on them."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.scroll_view import ScrollView


class CursorRows(ScrollView, can_focus=True):
    """A cursor over `_row_total()` rows drawn below a header line; keys move it.

    Subclasses draw the lines (`render_line`), say how many rows there are and how wide
    a row's strip is, and hear of each move in `_cursor_changed`.
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

    def _row_total(self) -> int:
        raise NotImplementedError

    def _line_width(self) -> int:
        raise NotImplementedError

    def _cursor_changed(self) -> None:
        """The cursor is on another row now."""

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
        y = index - self.scroll_offset.y + 1
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, max(self.size.width, self._line_width()), 1))
