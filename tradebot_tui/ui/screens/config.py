"""The settings as a form built from the schema: checked as you type, diffed, saved atomically.

Every field of `config.schema` gets an editor (a choice list for choices and true/false,
a text box for the rest), its description and default as help, and the schema's own
check on every keystroke. One section is shown at a time (tabs; `[` and `]` step through
them): the screen lays out a dozen rows instead of ~90, which keeps switching to it fast.
Ctrl+S shows what changes against the saved file, writes it with tomli-w through an
atomic replace once confirmed, and applies the strategy, risk and exit settings to the
running engine at once; the rest takes effect on the next start. API keys are not
settings: they never appear here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widget import Widget
from textual.widgets import Input, Select, Static, Tab, Tabs

from tradebot_tui.assets import stylesheet
from tradebot_tui.config import validate
from tradebot_tui.config.settings import Settings, section_types
from tradebot_tui.config.store import save_settings
from tradebot_tui.config.validate import ConfigError, FieldInfo
from tradebot_tui.engine import LIVE_SECTIONS
from tradebot_tui.ui.screens.base import TradebotScreen
from tradebot_tui.ui.screens.dialogs import ConfirmDialog


def fmt_value(value: Any) -> str:
    """A setting's value as it is written in TOML, roughly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]" if value else "[]"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def edit_text(value: Any) -> str:
    """A value as the text box shows it (lists comma-separated, no quotes)."""
    if isinstance(value, (tuple, list)):
        return ", ".join(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def parse_text(info: FieldInfo, text: str) -> Any:
    """The text of a box as the value TOML would give, then checked by the schema.

    Raises:
        ValueError: what is wrong with it, in the schema's words.
    """
    tp = info.type
    raw: Any = text.strip()
    if getattr(tp, "__origin__", None) is tuple:
        raw = [part.strip() for part in text.split(",") if part.strip()]
    elif tp is int:
        try:
            raw = int(raw.replace("_", ""))
        except ValueError:
            raise ValueError(f"must be an integer, got {text!r}") from None
    elif tp is float:
        try:
            raw = float(raw)
        except ValueError:
            raise ValueError(f"must be a number, got {text!r}") from None
    elif tp is Decimal and not raw:
        raise ValueError("must be a number, got nothing")
    return validate.convert(info, raw)


def help_text(info: FieldInfo) -> str:
    bounds = []
    if info.ge is not None:
        bounds.append(f">= {info.ge:g}")
    if info.gt is not None:
        bounds.append(f"> {info.gt:g}")
    if info.le is not None:
        bounds.append(f"<= {info.le:g}")
    unit = f" {info.unit}" if info.unit else ""
    extra = f" · {' and '.join(bounds)}{unit}" if bounds else ""
    when = "now" if info.section in LIVE_SECTIONS else "next start"
    return f"{info.description} [dim](default {fmt_value(info.default)}{extra} · applies {when})[/]"


class ConfigScreen(TradebotScreen):
    """Edit, check and save the settings."""

    CSS_PATH = stylesheet("config")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", tooltip="Show the changes, then save and apply them"),
        Binding("ctrl+r", "revert", "Revert", tooltip="Put back the saved values"),
        Binding("left_square_bracket", "section(-1)", "Prev section", tooltip="Section before"),
        Binding("right_square_bracket", "section(1)", "Next section", tooltip="Section after"),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, str] = {}
        self.infos = {info.path: info for info in validate.fields()}
        self.sections = list(dict.fromkeys(info.section for info in self.infos.values()))
        self.form_ready = False
        # Sections whose rows exist. A section is built when it is first shown (a dozen
        # rows, at once): switching to the screen never lays out or builds more; a field
        # not built yet holds its saved value.
        self._built: set[str] = set()

    def compose_body(self) -> ComposeResult:
        yield Static(id="config-source")
        yield Tabs(*(Tab(s, id=f"tab-{s}") for s in self.sections), id="config-sections")
        first = self.sections[0]
        with VerticalScroll(id="config-form"):
            for section in self.sections:
                page = Vertical(classes="config-page", id=f"page-{section}")
                page.display = section == first
                if section == first:  # the others are built when first shown
                    with page:
                        yield from self._section_rows(section)
                    self._built.add(section)
                else:
                    yield page
        yield Static("", id="config-status")

    def _section_rows(self, section: str) -> list[Widget]:
        """A section's title and its rows (name, editor, help)."""
        doc = (section_types()[section].__doc__ or "").strip()
        # The TOML table name, in brackets (escaped: markup would take it for a tag).
        title = f"[b]{escape(f'[{section}]')}[/]  [dim]{escape(doc)}[/]"
        rows: list[Widget] = [Static(title, classes="config-section")]
        for info in self.infos.values():
            if info.section != section:
                continue
            unit = f" ({info.unit})" if info.unit else ""
            rows.append(
                Horizontal(
                    Static(f"{info.name}{unit}", classes="config-name"),
                    self._editor(info),
                    Static(help_text(info), classes="config-help"),
                    classes="config-field",
                    id=f"field-{_wid(info.path)}",
                )
            )
        return rows

    # -- sections --------------------------------------------------------------------------

    @on(Tabs.TabActivated, "#config-sections")
    async def _section_chosen(self, event: Tabs.TabActivated) -> None:
        chosen = (event.tab.id or "tab-").removeprefix("tab-")
        if chosen in self.sections and chosen not in self._built:
            self._built.add(chosen)
            await self.query_one(f"#page-{chosen}").mount_all(self._section_rows(chosen))
            if len(self._built) == len(self.sections):
                self.tb_app.settle_gc()  # the whole form now lives as long as the app
        for page in self.query(".config-page"):
            page.display = page.id == f"page-{chosen}"
        self.query_one("#config-form", VerticalScroll).scroll_home(animate=False)

    def action_section(self, step: int) -> None:
        tabs = self.query_one("#config-sections", Tabs)
        sections = self.sections
        current = (tabs.active or "tab-").removeprefix("tab-")
        at = sections.index(current) if current in sections else 0
        tabs.active = f"tab-{sections[(at + step) % len(sections)]}"

    def show_section(self, section: str) -> None:
        """Bring `section`'s page to the front (as choosing its tab does)."""
        self.query_one("#config-sections", Tabs).active = f"tab-{section}"

    def _mark_sections(self) -> None:
        """A section with a wrong field says so on its tab."""
        wrong = {path.split(".")[0] for path in self.errors}
        for section in self.sections:
            tab = self.query_one(f"#tab-{section}", Tab)
            tab.label = f"{section} [b $error]![/]" if section in wrong else section

    def _editor(self, info: FieldInfo) -> Widget:
        value = getattr(getattr(self.tb_app.settings, info.section), info.name)
        wid = f"edit-{_wid(info.path)}"
        choices = info.choices
        if info.type is bool:
            choices = ("true", "false")
            value = "true" if value else "false"
        if choices is not None:
            return Select(
                [(c, c) for c in choices], value=value, allow_blank=False, compact=True, id=wid
            )
        return Input(edit_text(value), compact=True, id=wid, select_on_focus=False)

    def on_mount(self) -> None:
        self._source_text()
        self.form_ready = True
        self.call_after_refresh(self._status)

    def _source_text(self) -> None:
        app = self.tb_app
        self.query_one("#config-source", Static).update(
            f"{app.locations.config_note()}\n{app.credentials_note} · Ctrl+S saves (a diff first), "
            "Ctrl+R reverts, \\[ and ] change section, Tab moves between fields, Esc leaves a "
            "field"
        )

    # -- reading the form ------------------------------------------------------------------

    def _raw(self, info: FieldInfo) -> Any:
        if info.section not in self._built:  # never shown: the saved value
            return getattr(getattr(self.tb_app.settings, info.section), info.name)
        widget = self.query_one(f"#edit-{_wid(info.path)}")
        if isinstance(widget, Select):
            value = widget.value
            return (value == "true") if info.type is bool else value
        assert isinstance(widget, Input)
        return parse_text(info, widget.value)

    def _check(self, info: FieldInfo) -> None:
        try:
            self._raw(info)
        except ValueError as exc:
            self.errors[info.path] = str(exc)
        else:
            self.errors.pop(info.path, None)
        row = self.query_one(f"#field-{_wid(info.path)}")
        row.set_class(info.path in self.errors, "-invalid")
        error = self.errors.get(info.path)
        # The field's help line turns into its error while it is wrong.
        row.query_one(".config-help", Static).update(
            f"[b $error]{escape(error)}[/]" if error else help_text(info)
        )
        self._mark_sections()
        self._status()

    def form_settings(self) -> Settings:
        """The settings the form holds.

        Raises:
            ConfigError: a field, or a rule across fields, is wrong.
        """
        if self.errors:
            key, message = next(iter(self.errors.items()))
            raise ConfigError("the form", key, message)
        data: dict[str, dict[str, Any]] = {}
        for info in self.infos.values():
            value = self._raw(info)
            data.setdefault(info.section, {})[info.name] = (
                list(value) if isinstance(value, tuple) else value
            )
        # Saving writes these through tomli-w and reads them back before replacing the file.
        return validate.from_dict(data, "the form")

    def _status(self) -> None:
        if not self.form_ready:
            return
        status = self.query_one("#config-status", Static)
        if self.errors:
            status.update(
                f"[b $error]{len(self.errors)} field(s) need fixing:[/] " + ", ".join(self.errors)
            )
            return
        try:
            settings = self.form_settings()
        except ConfigError as exc:
            status.update(f"[b $error]{exc.key}:[/] {exc.message}")
            return
        changes = validate.diff(self.tb_app.settings, settings)
        status.update(
            f"[$success]All valid.[/] {len(changes)} unsaved change(s)"
            + (": " + ", ".join(k for k, _, _ in changes) if changes else "")
        )

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("edit-"):
            self._check(self.infos[_path(event.input.id)])

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id and event.select.id.startswith("edit-"):
            self._check(self.infos[_path(event.select.id)])

    # -- actions ---------------------------------------------------------------------------

    def action_leave_field(self) -> None:
        self.query_one("#config-form").focus()

    def action_revert(self) -> None:
        settings = self.tb_app.settings
        for info in self.infos.values():
            if info.section not in self._built:
                continue  # built later from the saved settings
            value = getattr(getattr(settings, info.section), info.name)
            widget = self.query_one(f"#edit-{_wid(info.path)}")
            if isinstance(widget, Select):
                widget.value = ("true" if value else "false") if info.type is bool else value
            else:
                assert isinstance(widget, Input)
                widget.value = edit_text(value)
        self.errors.clear()
        self._mark_sections()
        for row in self.query(".config-field"):
            row.remove_class("-invalid")
            info = self.infos[_path(row.id or "field-")]
            row.query_one(".config-help", Static).update(help_text(info))
        self._status()
        self.notify("The form shows the saved settings again.", title="Reverted")

    def action_save(self) -> None:
        try:
            new = self.form_settings()
        except ConfigError as exc:
            self.notify(str(exc), title="Not saved", severity="error")
            return
        app = self.tb_app
        changes = validate.diff(app.settings, new)
        if not changes:
            self.notify("Nothing changed.", title="Config")
            return
        path = app.locations.config_file
        lines = [
            f"{key}: {fmt_value(old)} → {fmt_value(value)}"
            + ("" if key.split(".")[0] in LIVE_SECTIONS else "  (next start)")
            for key, old, value in changes
        ]

        def answer(yes: bool | None) -> None:
            if yes:
                self._write(new)

        self.app.push_screen(
            ConfirmDialog(f"Save {len(changes)} change(s) to {path}?", lines, yes="Save"), answer
        )

    def _write(self, new: Settings) -> None:
        app = self.tb_app
        path = app.locations.config_file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_settings(path, new)
        except (OSError, ConfigError) as exc:
            self.notify(f"{path}: {exc}", title="Not saved", severity="error", timeout=10)
            return
        app.settings_saved(new)
        self._source_text()
        self._status()


def _wid(path: str) -> str:
    return path.replace(".", "--")


def _path(widget_id: str) -> str:
    """The key path of an editor (`edit-…`) or a field row (`field-…`)."""
    return widget_id.split("-", 1)[1].replace("--", ".")
