"""Reading and writing config.toml: tomllib in, tomli-w out, always atomic."""

from __future__ import annotations

from pathlib import Path

from tradebot_tui.config.files import TomlFileError, read_toml, write_atomic
from tradebot_tui.config.settings import SECTIONS, Settings
from tradebot_tui.config.validate import ConfigError, fields, from_dict, to_dict

UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "%": "percent", "Hz": "times a second"}


def load_settings(path: Path, *, required: bool) -> Settings:
    """Read and validate a config file.

    Args:
        path: The file.
        required: When true (the file was named explicitly), a missing file is an error;
            otherwise a missing file means "all defaults".

    Raises:
        ConfigError: the file cannot be read, is not TOML, or a setting is wrong.
    """
    source = str(path)
    try:
        data = read_toml(path)
    except FileNotFoundError:
        if required:
            raise ConfigError(source, None, "file not found") from None
        return Settings()
    except TomlFileError as exc:
        raise ConfigError(source, None, exc.reason) from None
    return from_dict(data, source)


def dumps(settings: Settings) -> str:
    """The settings as TOML text (tomli-w), one table per section."""
    import tomli_w  # writing is rare: not imported on every start

    return tomli_w.dumps(to_dict(settings))


def save_settings(path: Path, settings: Settings) -> None:
    """Write settings atomically; validates the text it writes by reading it back."""
    import tomllib

    text = dumps(settings)
    from_dict(tomllib.loads(text), str(path))
    write_atomic(path, text.encode("utf-8"))


def commented_defaults() -> str:
    """A complete config file of defaults with each field's description as a comment."""
    import tomli_w

    lines = [
        "# tradebot-tui configuration. Every key is optional; these are the defaults.",
        "# `tradebot-tui config check` validates this file.",
    ]
    infos = fields()
    defaults = to_dict(Settings())
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        for info in (i for i in infos if i.section == section):
            unit = f" (in {UNIT_NAMES.get(info.unit, info.unit)})" if info.unit else ""
            lines.append(f"# {info.description.rstrip('.')}{unit}.")
            value = tomli_w.dumps({info.name: defaults[section][info.name]}).strip()
            lines.append(value.replace("\n", " ").replace(",]", "]").replace("[ ", "["))
    return "\n".join(lines) + "\n"


def init_config(path: Path, *, force: bool = False) -> None:
    """Write the commented defaults to `path`; refuse to overwrite unless `force`."""
    if path.exists() and not force:
        raise ConfigError(str(path), None, "exists already (use --force to overwrite)")
    import tomllib

    text = commented_defaults()
    from_dict(tomllib.loads(text), str(path))
    write_atomic(path, text.encode("utf-8"))
