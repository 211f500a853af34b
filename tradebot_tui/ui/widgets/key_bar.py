"""The bottom line: the keys of the screen, then the app's, as `key label` pairs.

One Static drawn once per screen, instead of Textual's Footer, which rebuilds a widget
per key whenever the screen changes (measured here at well over 100 ms per screen
switch, most of the key-to-screen time).
"""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static

from tradebot_tui.ui.bindings import action_name, own_bindings


class KeyBar(Static):
    """`key label` for every shown binding of the screen and the app."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        self.refresh_keys()

    def refresh_keys(self) -> None:
        screen = self.screen
        app = self.app
        parts: list[tuple[str, str] | str] = []
        seen: set[str] = set()
        for owner in (screen, app):
            for binding in own_bindings(owner):
                if not binding.show or binding.action in seen:
                    continue
                if app.check_action(action_name(binding), ()) is False:
                    continue
                seen.add(binding.action)
                key = app.get_key_display(Binding(binding.key.split(",")[0], binding.action))
                parts += [(key, "bold $primary"), f" {binding.description}  "]
        parts += [("^p", "bold $primary"), " palette"]
        # Content, not markup: a key may be a bracket.
        self.update(Content.assemble(*parts))
