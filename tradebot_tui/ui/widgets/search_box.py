"""A text box that opens on demand, filters as you type and hands focus back when done."""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Input


class SearchBox(Input):
    """Hidden until `open()`; Enter returns focus to `target`, `close()` also clears it.

    The screen listens to `Input.Changed` for the text; clearing on close sends one more
    change, with an empty value, so the filter it drives goes away too.
    """

    DEFAULT_CSS = """
    SearchBox {
        display: none;
        height: 3;
        margin: 0 1;
        &.-open { display: block; }
    }
    """

    def __init__(self, placeholder: str, target: str, *, id: str) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self._target = target

    def _back(self) -> None:
        self.screen.query_one(self._target, Widget).focus()

    def open(self) -> None:
        self.add_class("-open")
        self.focus()

    def close(self) -> None:
        """Clear and hide the box (nothing happens when it is not open)."""
        if self.has_class("-open"):
            self.value = ""
            self.remove_class("-open")
            self._back()

    def on_input_submitted(self) -> None:
        self._back()
