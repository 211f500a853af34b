"""The confirmation asked before the engine may trade real money."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tradebot_tui.assets import stylesheet
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.money import fmt_decimal

CONFIRM_WORD = "LIVE"


class ConfirmLiveScreen(ModalScreen[bool]):
    """Type LIVE and Enter to start live trading; Esc quits without starting anything."""

    CSS_PATH = stylesheet("confirm_live")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "refuse", "Quit without trading")]

    def __init__(self, settings: Settings, keys_note: str) -> None:
        super().__init__()
        self.settings = settings
        self.keys_note = keys_note

    def compose(self) -> ComposeResult:
        s = self.settings
        with Vertical(id="confirm-live-box"):
            yield Static("LIVE TRADING: REAL MONEY", id="confirm-live-title")
            yield Static(
                f"tradebot-tui will place real {s.exchange.order_type} orders on "
                f"{s.exchange.name}: {fmt_decimal(s.budget.stake)} {s.budget.quote} per "
                f"entry, up to {s.risk.max_positions} positions at once, within a budget of "
                f"{fmt_decimal(s.budget.initial)} {s.budget.quote}.\n{self.keys_note}",
                id="confirm-live-text",
            )
            yield Static(
                f"Type {CONFIRM_WORD} and press Enter to start. Esc quits; nothing is sent.",
                id="confirm-live-help",
            )
            yield Input(placeholder=CONFIRM_WORD, id="confirm-live-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == CONFIRM_WORD:
            self.dismiss(True)
        else:
            event.input.value = ""
            self.notify(f"Type {CONFIRM_WORD} exactly, or press Esc to quit.", severity="warning")

    def action_refuse(self) -> None:
        self.dismiss(False)
