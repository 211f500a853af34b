"""What every command shares: the program's name, exit statuses, bad input, dates, and
the notes a command prints about the config and the keys it uses."""

from __future__ import annotations

from tradebot_tui.config.credentials import Credentials, SecretsError, load_credentials
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.errors import TradebotError

PROG = "tradebot-tui"
EXIT_OK, EXIT_CRASH, EXIT_USAGE = 0, 1, 2


class UsageError(TradebotError):
    """Bad input from the user: printed as one line, exit status 2."""


def settings_lines(
    locations: Locations, settings: Settings, *, where: str | None = None
) -> list[str]:
    """The config file a command uses (or `where` the settings come from) and the
    settings that differ from the defaults."""
    from tradebot_tui.config.validate import diff

    path = locations.config_file
    if where is None:
        where = str(path) if path.exists() else f"no file at {path}: the defaults"
    changed = [f"{key} = {new} (default {old})" for key, old, new in diff(Settings(), settings)]
    return [f"config        {where}", f"settings      {', '.join(changed) or 'the defaults'}"]


def credentials_note(settings: Settings, locations: Locations, *, strict: bool) -> str:
    """Where the API keys come from, never what they are.

    Raises:
        SecretsError: when `strict` (live mode) and the keys cannot be used.
    """
    try:
        creds: Credentials | None = load_credentials(settings.exchange.name, locations.secrets_file)
    except SecretsError as exc:
        if strict:
            raise
        return f"API keys: not used in paper mode; note: {exc}"
    if creds is None:
        return "API keys: none found (paper trading needs none)"
    return f"API keys: found for {settings.exchange.name} in {creds.source} (never shown)"


def parse_date(text: str, option: str, *, end: bool = False) -> int:
    """A UTC date, date-time or epoch-ms as epoch milliseconds.

    With `end`, a bare date means the last millisecond of that day.
    """
    from datetime import UTC, datetime, timedelta

    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: expected a UTC date like 2026-03-25, 2026-03-25T14:30 or "
            "epoch milliseconds"
        ) from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if end and len(value) == 10:
        when += timedelta(days=1) - timedelta(milliseconds=1)
    return int(when.timestamp() * 1000)
