"""One line of text redrawn only when it changes, without a layout pass.

`Static.update` lays out the whole screen again by default; for the header and the
summary lines, which change on every snapshot but never change size, that redrew every
widget at every refresh (measured: 29.5 % -> 13.5 % of a core at 500 symbols).
"""

from __future__ import annotations

from textual.widgets import Static


class TextLine(Static):
    """A fixed-height line of markup text."""

    DEFAULT_CSS = """
    TextLine {
        height: 1;
    }
    """

    _text: str | None = None

    def set_text(self, text: str) -> None:
        """Show `text` (markup); nothing happens when it is what is shown already."""
        if text != self._text:
            self._text = text
            self.update(text, layout=False)
