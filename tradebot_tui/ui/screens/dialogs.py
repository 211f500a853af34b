"""Modal dialogs: a yes/no confirmation, the help screen and the theme picker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from tradebot_tui.assets import stylesheet


class ConfirmDialog(ModalScreen[bool]):
    """A question with details; y or Enter confirms, n or Esc refuses."""

    CSS_PATH = stylesheet("confirm")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(
        self, title: str, lines: Sequence[str | Text], *, yes: str = "Yes", danger: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.yes = yes
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="-danger" if self.danger else ""):
            yield Static(self.title_text, id="confirm-title")
            with VerticalScroll(id="confirm-body"):
                for line in self.lines:
                    yield Static(line, markup=False, classes="confirm-line")
            with Horizontal(id="confirm-buttons"):
                yield Button(
                    f"{self.yes} (y)",
                    id="confirm-yes",
                    variant="error" if self.danger else "primary",
                )
                yield Button("Cancel (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


class HelpScreen(ModalScreen[None]):
    """Every key binding of the app and of the screen it was opened from."""

    CSS_PATH = stylesheet("help")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,f1,q", "dismiss", "Close"),
    ]

    def __init__(self, sections: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(
                "Keys  [dim](Esc closes; Ctrl+P finds any action by name)[/]", id="help-title"
            )
            with VerticalScroll(id="help-body"):
                for title, rows in self.sections:
                    yield Static(title, classes="help-section")
                    text = Text()
                    for i, (key, what) in enumerate(rows):
                        if i:
                            text.append("\n")
                        text.append(f"{key:>14}  ", style="bold")
                        text.append(what)
                    yield Static(text, classes="help-keys")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)


class ThemePicker(ModalScreen[str | None]):
    """Themes by name; moving the highlight previews, Enter keeps, Esc goes back."""

    CSS_PATH = stylesheet("theme_picker")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Back")]

    def __init__(self, names: Sequence[tuple[str, str]], current: str) -> None:
        super().__init__()
        self.names = names  # (name, where it comes from)
        self.original = current

    def compose(self) -> ComposeResult:
        with Vertical(id="theme-box"):
            yield Static(
                "Theme  [dim](Enter keeps it and saves it in the config)[/]", id="theme-title"
            )
            yield OptionList(
                *(Option(f"{name}  [dim]{origin}[/]", id=name) for name, origin in self.names),
                id="theme-list",
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        names = [n for n, _ in self.names]
        if self.original in names:
            options.highlighted = names.index(self.original)
        options.focus()

    @on(OptionList.OptionHighlighted)
    def _preview(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.app.theme = event.option.id

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.app.theme = self.original
        self.dismiss(None)
