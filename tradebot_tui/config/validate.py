"""Checking settings: raw TOML in, typed `Settings` out, or an error naming file and key.

One schema (`config.settings`) feeds validation, defaults, the config screen's help text
and `config init`: `fields()` lists it, `convert` checks one value, `from_dict` a whole
file (unknown keys, wrong types, out-of-range values and rules across fields).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from tradebot_tui.config.settings import SECTIONS, Settings, section_types
from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.market import split_symbol
from tradebot_tui.core.money import parse_decimal


class ConfigError(TradebotError):
    """A setting that is wrong, named by file and key path."""

    def __init__(self, source: str, key: str | None, message: str) -> None:
        self.source = source
        self.key = key
        self.message = message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


class ConfigErrors(ConfigError):
    """Every wrong setting of a file at once, one line each; `key` and `message` are the
    first one's."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.source, first.key, first.message)
        self.errors = errors
        self.args = ("\n".join(str(e) for e in errors),)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def raise_all(errors: list[ConfigError]) -> None:
    """Raise the one error, or all of them (ConfigErrors); nothing when there is none."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One setting as the config screen and `config init` see it."""

    section: str
    name: str
    type: Any
    default: Any
    description: str
    unit: str
    ge: float | None
    gt: float | None
    le: float | None
    pattern: str | None

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def choices(self) -> tuple[str, ...] | None:
        if typing.get_origin(self.type) is Literal:
            return tuple(typing.get_args(self.type))
        return None


def fields() -> list[FieldInfo]:
    """Every setting, section by section, in declaration order."""
    out = []
    for section, cls in section_types().items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meta = f.metadata
            out.append(
                FieldInfo(
                    section=section,
                    name=f.name,
                    type=hints[f.name],
                    default=f.default,
                    description=meta["description"],
                    unit=meta["unit"],
                    ge=meta["ge"],
                    gt=meta["gt"],
                    le=meta["le"],
                    pattern=meta["pattern"],
                )
            )
    return out


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return "a list of strings"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        Decimal: "a number",
        str: "a string",
    }.get(tp, str(tp))


def convert(info: FieldInfo, value: Any) -> Any:
    """Check one raw TOML value against its field; return it in the field's type.

    Raises:
        ValueError: with a message saying what is wrong (the caller adds file and key).
    """
    tp = info.type
    got = f"got {value!r}"
    if typing.get_origin(tp) is Literal:
        if value not in typing.get_args(tp):
            raise ValueError(f"must be {_type_name(tp)}, {got}")
        return value
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"must be {_type_name(tp)}, {got}")
        return tuple(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, {got}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, {got}")
        if info.pattern and not re.match(info.pattern, value):
            raise ValueError(f"{value!r} does not match {info.pattern}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"must be {_type_name(tp)}, {got}")
    if tp is int:
        if not isinstance(value, int):
            raise ValueError(f"must be an integer, {got}")
        number: Any = value
    elif tp is float:
        if isinstance(value, str):
            raise ValueError(f"must be a number, {got}")
        number = float(value)
    elif tp is Decimal:
        try:
            number = parse_decimal(value, "value")
        except ValueError:
            raise ValueError(f"must be a number, {got}") from None
    else:  # pragma: no cover - a schema field of an unsupported type
        raise TypeError(f"unsupported setting type {tp}")
    if number != number:  # NaN
        raise ValueError(f"must be a number, {got}")
    _check_range(info, number, got)
    return number


def _check_range(info: FieldInfo, number: Any, got: str) -> None:
    unit = f" {info.unit}" if info.unit else ""
    low_ok = (info.ge is None or number >= info.ge) and (info.gt is None or number > info.gt)
    high_ok = info.le is None or number <= info.le
    if low_ok and high_ok:
        return
    low = (
        f">= {info.ge:g}"
        if info.ge is not None
        else f"> {info.gt:g}"
        if info.gt is not None
        else ""
    )
    high = f"<= {info.le:g}" if info.le is not None else ""
    bounds = " and ".join(b for b in (low, high) if b)
    raise ValueError(f"must be {bounds}{unit}, {got}")


def from_dict(data: dict[str, Any], source: str) -> Settings:
    """Build Settings from parsed TOML, rejecting unknown keys, wrong types and ranges.

    Raises:
        ConfigError: naming `source` and the key path of the problem; ConfigErrors, a
            ConfigError, when there are several: every one, in file order.
    """
    by_section: dict[str, dict[str, FieldInfo]] = {}
    for info in fields():
        by_section.setdefault(info.section, {})[info.name] = info
    errors: list[ConfigError] = []
    sections: dict[str, Any] = {}
    for name, value in data.items():
        if name not in by_section:
            errors.append(
                ConfigError(source, name, f"unknown section (known: {', '.join(SECTIONS)})")
            )
            continue
        if not isinstance(value, dict):
            errors.append(ConfigError(source, name, f"must be a table ([{name}]), got {value!r}"))
            continue
        known = by_section[name]
        values = {}
        for key, raw in value.items():
            field_info = known.get(key)
            if field_info is None:
                errors.append(
                    ConfigError(source, f"{name}.{key}", f"unknown key (known: {', '.join(known)})")
                )
                continue
            try:
                values[key] = convert(field_info, raw)
            except ValueError as exc:
                errors.append(ConfigError(source, f"{name}.{key}", str(exc)))
        sections[name] = section_types()[name](**values)
    raise_all(errors)
    settings = Settings(**sections)
    raise_all(across(settings, source))
    return settings


def across(settings: Settings, source: str) -> list[ConfigError]:
    """What is wrong across fields (each field right on its own)."""
    errors: list[ConfigError] = []
    quote = settings.budget.quote
    for i, symbol in enumerate(settings.market.symbols):
        key = f"market.symbols[{i}]"
        try:
            _, sym_quote = split_symbol(symbol)
        except ValueError as exc:
            errors.append(ConfigError(source, key, str(exc)))
            continue
        if sym_quote != quote:
            errors.append(
                ConfigError(source, key, f"{symbol} is not quoted in budget.quote ({quote})")
            )
    if len(set(settings.market.symbols)) != len(settings.market.symbols):
        errors.append(ConfigError(source, "market.symbols", "lists a symbol twice"))
    for key in ("include", "exclude"):
        for i, symbol in enumerate(getattr(settings.market, key)):
            try:
                split_symbol(symbol)
            except ValueError as exc:
                errors.append(ConfigError(source, f"market.{key}[{i}]", str(exc)))
    market = settings.market
    if market.source == "simulated" and market.universe == "top_volume":
        errors.append(
            ConfigError(source, "market.universe", "top_volume needs exchange data (market.source)")
        )
    if market.universe == "static" and not market.symbols and market.source != "simulated":
        errors.append(
            ConfigError(source, "market.symbols", "universe = static needs symbols to watch")
        )
    if settings.budget.stake > settings.budget.initial:
        errors.append(
            ConfigError(
                source,
                "budget.stake",
                f"stake {settings.budget.stake} is larger than budget.initial "
                f"{settings.budget.initial}",
            )
        )
    return errors


def diff(old: Settings, new: Settings) -> list[tuple[str, Any, Any]]:
    """(key path, old value, new value) of every setting that differs, in schema order."""
    out = []
    for info in fields():
        a = getattr(getattr(old, info.section), info.name)
        b = getattr(getattr(new, info.section), info.name)
        if a != b:
            out.append((info.path, a, b))
    return out


def changed_sections(old: Settings, new: Settings) -> list[str]:
    """The sections with at least one setting that differs, in schema order."""
    return [s for s in SECTIONS if getattr(old, s) != getattr(new, s)]


def to_dict(settings: Settings) -> dict[str, dict[str, Any]]:
    """Settings as plain TOML-ready data (tuples become lists)."""
    out: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        values = {}
        for f in dataclasses.fields(getattr(settings, section)):
            value = getattr(getattr(settings, section), f.name)
            values[f.name] = list(value) if isinstance(value, tuple) else value
        out[section] = values
    return out
