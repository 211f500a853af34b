"""Help and the command palette: every key of the screen the trader is on and of the app,
by what it does; every action by name."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tradebot_tui.ui.bindings import action_name, own_bindings
from tradebot_tui.ui.screens.base import TradebotScreen

if TYPE_CHECKING:
    from tradebot_tui.ui.app import TradebotApp


def help_sections(
    app: TradebotApp, screen: Screen[object]
) -> list[tuple[str, list[tuple[str, str]]]]:
    """(title, [(keys, what)]) for the screen's own bindings and the app's."""
    sections = []
    # A key kept out of the footer (show=False) is still listed when it says what it does.
    own = [
        help_row(app, b) for b in own_bindings(screen) if b.description and (b.show or b.tooltip)
    ]
    if own:
        sections.append((f"This screen ({type(screen).__name__.removesuffix('Screen')})", own))
    extra = getattr(screen, "HELP_EXTRA", ())
    if extra:
        sections.append(extra)
    everywhere = [
        help_row(app, b)
        for b in own_bindings(app)
        if b.description and b.show and (app.replaying or action_name(b) != "replay")
    ]
    everywhere.append(("ctrl+p", "command palette: every action by name"))
    sections.append(("Everywhere", everywhere))
    return sections


def help_row(app: TradebotApp, binding: Binding) -> tuple[str, str]:
    keys = " ".join(app.get_key_display(Binding(k, binding.action)) for k in binding.key.split(","))
    return keys, binding.tooltip or binding.description


def system_commands(app: TradebotApp, screen: Screen[object]) -> Iterable[SystemCommand]:
    """The palette offers every action of the app and of the current screen."""
    seen = set()
    target = screen
    if not isinstance(target, TradebotScreen) and len(app.screen_stack) > 1:
        target = app.screen_stack[-1]
    for owner in (target, app):
        for binding in own_bindings(owner):
            if not binding.description or binding.action in seen:
                continue
            if action_name(binding) == "replay" and not app.replaying:
                continue
            seen.add(binding.action)
            yield SystemCommand(
                binding.description,
                binding.tooltip or binding.description,
                partial(app.run_action, binding.action, owner),
            )
    if app.snapshot is not None and app.snapshot.quote_drift:
        from tradebot_tui.engine import AcceptBalance

        yield SystemCommand(
            f"Accept the exchange's {app.snapshot.quote} balance",
            f"Deposited or withdrawn outside the bot? {app.snapshot.quote_drift}",
            partial(app.send_command, AcceptBalance()),
        )
    for command in App.get_system_commands(app, screen):
        if command.title not in ("Quit", "Theme"):
            yield command
