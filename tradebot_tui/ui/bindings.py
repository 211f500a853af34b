"""Reading the app's and the screens' own key bindings (help, palette and key bar)."""

from __future__ import annotations

from textual.binding import Binding


def own_bindings(owner: object) -> list[Binding]:
    """The Binding objects a screen or app declares (Textual's built-in ones are left out)."""
    out = []
    for cls in reversed(type(owner).__mro__):
        if not cls.__module__.startswith("tradebot_tui."):
            continue
        for b in cls.__dict__.get("BINDINGS", []):
            if isinstance(b, Binding):
                out.append(b)
    return out


def action_name(binding: Binding) -> str:
    """`replay('pause')` -> `replay`."""
    return binding.action.partition("(")[0]
