"""Themes as data: TOML files holding Textual `Theme` fields.

Shipped themes (the package's `themes/` folder) load first, the user's themes folder
after, so a user theme of the same name wins. Every failure is collected and reported
together instead of stopping at the first bad file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from tradebot_tui.assets import asset_dir
from tradebot_tui.config.files import TomlFileError, read_toml
from tradebot_tui.core.errors import TradebotError

_FIELDS = {f.name: f for f in dataclasses.fields(Theme)}
_COLOR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)


class ThemeError(TradebotError):
    """A theme file that cannot be used, named by path."""


def load_theme(path: Path) -> Theme:
    """Read one theme file.

    Raises:
        ThemeError: unreadable file, bad TOML, unknown field, bad colour or type.
    """
    try:
        data = read_toml(path)
    except FileNotFoundError:
        raise ThemeError(f"{path}: cannot read: no such file") from None
    except TomlFileError as exc:
        raise ThemeError(str(exc)) from None
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ThemeError(f"{path}: unknown field(s) {', '.join(unknown)}")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise ThemeError(f"{path}: name: a theme needs a name")
    if not isinstance(data.get("primary"), str):
        raise ThemeError(f"{path}: primary: a theme needs a primary colour")
    for key in _COLOR_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ThemeError(f"{path}: {key}: must be a colour string, got {value!r}")
        try:
            Color.parse(value)
        except ColorParseError:
            raise ThemeError(f"{path}: {key}: {value!r} is not a colour") from None
    for key in ("dark", "ansi"):
        if key in data and not isinstance(data[key], bool):
            raise ThemeError(f"{path}: {key}: must be true or false")
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise ThemeError(f"{path}: variables: must be a table of strings")
    return Theme(**data)


def shipped_theme_files() -> list[Path]:
    return sorted(asset_dir("themes").glob("*.toml"))


def load_themes(user_dir: Path | None) -> tuple[list[Theme], list[str]]:
    """All loadable themes (shipped first, then the user's) and the errors met."""
    themes: list[Theme] = []
    errors: list[str] = []
    files = shipped_theme_files()
    if user_dir is not None and user_dir.is_dir():
        files += sorted(user_dir.glob("*.toml"))
    for path in files:
        try:
            themes.append(load_theme(path))
        except ThemeError as exc:
            errors.append(str(exc))
    return themes, errors
