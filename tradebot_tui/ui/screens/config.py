"""The effective settings, with each field's description, default and source file."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from tradebot_tui.assets import stylesheet
from tradebot_tui.config import schema
from tradebot_tui.engine.snapshot import EngineSnapshot
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.widgets.tables import Cell

COLUMNS = ("setting", "value", "default", "description")
LABELS = ("Setting", "Value", "Default", "Description")


def fmt_value(value: Any) -> str:
    """A setting's value as it is written in TOML, roughly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]" if value else "[] (all)"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


class ConfigScreen(TradebotScreen):
    """Settings in effect for this run."""

    CSS_PATH = stylesheet("config")

    def compose_body(self) -> ComposeResult:
        yield Static(id="config-source")
        table: DataTable[Cell] = DataTable(id="config-table", cursor_type="row", zebra_stripes=True)
        for key, label in zip(COLUMNS, LABELS, strict=True):
            table.add_column(label, key=key)
        yield table

    def on_mount(self) -> None:
        app = self.tb_app
        settings = app.settings
        accent = self.app.current_theme.accent or "yellow"
        table = self.query_one("#config-table", DataTable)
        for info in schema.fields():
            value = getattr(getattr(settings, info.section), info.name)
            changed = value != info.default
            unit = f" {info.unit}" if info.unit else ""
            table.add_row(
                Text(info.path, style="bold"),
                Text(fmt_value(value) + unit, style=accent if changed else ""),
                Text(fmt_value(info.default) + unit, style="dim"),
                info.description,
                key=info.path,
            )
        self.query_one("#config-source", Static).update(
            f"{app.config_note}\n{app.credentials_note}\n"
            "Changed values are highlighted. Edit the file and run "
            "[b]tradebot-tui config check[/] to validate it; it applies at the next start."
        )

    def show_body(self, snap: EngineSnapshot) -> None:
        """The settings do not change while running; only the status bar follows."""
