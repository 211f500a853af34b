"""API keys: from the environment or an owner-only secrets file, never shown anywhere.

The environment wins: TRADEBOT_API_KEY and TRADEBOT_API_SECRET. Otherwise the secrets
file (`tradebot-tui locate` prints its path) holds a table per exchange:

    [binance]
    api_key = "..."
    api_secret = "..."

Like ssh with a private key, a secrets file that its group or others can read is refused.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from tradebot_tui.config.files import TomlFileError, read_toml
from tradebot_tui.core.errors import TradebotError

KEY_ENV = "TRADEBOT_API_KEY"
SECRET_ENV = "TRADEBOT_API_SECRET"
NOTIFY_ENV = "TRADEBOT_NOTIFY_URLS"
TELEGRAM_TOKEN_ENV = "TRADEBOT_TELEGRAM_TOKEN"
TELEGRAM_CHATS_ENV = "TRADEBOT_TELEGRAM_CHATS"

# Every secret value loaded in this process, so that log output can redact them.
_LOADED: set[str] = set()


class SecretsError(TradebotError):
    """The secrets cannot be used (unsafe permissions, bad file); says why, never what."""


class Secret:
    """A string that does not show itself: repr and str print a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if value:
            _LOADED.add(value)

    def reveal(self) -> str:
        """The value, for the one place that sends it to the exchange."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("secrets are not picklable")


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key pair and where it came from (`environment` or the file's path)."""

    api_key: Secret
    api_secret: Secret
    source: str


def loaded_secret_values() -> frozenset[str]:
    """The secret strings to redact from any output."""
    return frozenset(_LOADED)


def load_credentials(
    exchange: str, secrets_file: Path, environ: dict[str, str] | None = None
) -> Credentials | None:
    """Find the API keys for `exchange`, or None when there are none.

    Raises:
        SecretsError: a half-set environment pair, an unsafe or malformed secrets file.
    """
    env = os.environ if environ is None else environ
    key, secret = env.get(KEY_ENV), env.get(SECRET_ENV)
    if key or secret:
        if not (key and secret):
            raise SecretsError(f"set both {KEY_ENV} and {SECRET_ENV}, or neither")
        return Credentials(Secret(key), Secret(secret), "environment")
    data = read_secrets_file(secrets_file)
    if data is None:
        return None
    table = data.get(exchange)
    if table is None:
        return None
    if not isinstance(table, dict):
        raise SecretsError(f"{secrets_file}: [{exchange}] must be a table")
    unknown = set(table) - {"api_key", "api_secret"}
    if unknown:
        raise SecretsError(f"{secrets_file}: [{exchange}] has unknown keys {sorted(unknown)}")
    key, secret = table.get("api_key"), table.get("api_secret")
    if not (isinstance(key, str) and key and isinstance(secret, str) and secret):
        raise SecretsError(f"{secrets_file}: [{exchange}] needs api_key and api_secret strings")
    return Credentials(Secret(key), Secret(secret), str(secrets_file))


def read_secrets_file(secrets_file: Path) -> dict[str, object] | None:
    """The secrets file's tables, or None when there is no file.

    Raises:
        SecretsError: the file is readable by others, not ours, or not valid TOML.
    """
    try:
        st = secrets_file.stat()
    except FileNotFoundError:
        return None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(
            f"{secrets_file}: permissions {stat.S_IMODE(st.st_mode):04o} let others read it; "
            f"refusing to use it (run: chmod 600 {secrets_file})"
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SecretsError(f"{secrets_file}: not owned by the current user; refusing to use it")
    try:
        return read_toml(secrets_file)
    except FileNotFoundError:
        return None
    except TomlFileError as exc:
        raise SecretsError(str(exc)) from None


def load_notify_urls(secrets_file: Path, environ: dict[str, str] | None = None) -> list[Secret]:
    """The Apprise URLs notifications go to: TRADEBOT_NOTIFY_URLS (separated by spaces or
    commas) wins over the secrets file's `[notify] urls = [...]`. Empty: none set.

    Raises:
        SecretsError: an unsafe or malformed secrets file, or a [notify] table that is not
            a list of URL strings.
    """
    env = os.environ if environ is None else environ
    raw = env.get(NOTIFY_ENV, "").replace(",", " ").split()
    if raw:
        return [Secret(url) for url in raw]
    data = read_secrets_file(secrets_file)
    table = (data or {}).get("notify")
    if table is None:
        return []
    if not isinstance(table, dict) or set(table) - {"urls"}:
        raise SecretsError(f'{secrets_file}: [notify] must hold one key, urls = ["...", ...]')
    urls = table.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) and u.strip() for u in urls):
        raise SecretsError(f"{secrets_file}: [notify] urls must be a list of Apprise URL strings")
    return [Secret(u.strip()) for u in urls]


@dataclass(frozen=True, slots=True)
class TelegramAccess:
    """The bot's token and the chats it answers (every other chat is ignored)."""

    token: Secret
    chat_ids: frozenset[int]
    source: str


def _chat_ids(values: object, where: str) -> frozenset[int]:
    if not isinstance(values, list) or not values:
        raise SecretsError(f"{where}: chat_ids must be a list of Telegram chat ids (numbers)")
    ids = set()
    for value in values:
        try:
            ids.add(int(str(value).strip()))
        except ValueError:
            raise SecretsError(f"{where}: chat id {value!r} is not a number") from None
    return frozenset(ids)


def load_telegram(
    secrets_file: Path, environ: dict[str, str] | None = None
) -> TelegramAccess | None:
    """The Telegram bot token and allowed chats: TRADEBOT_TELEGRAM_TOKEN and
    TRADEBOT_TELEGRAM_CHATS (comma separated) win over the secrets file's
    `[telegram] token = "..."`, `chat_ids = [...]`. None when no token is set.

    Raises:
        SecretsError: a token without chats (or the reverse), a malformed table or file.
    """
    env = os.environ if environ is None else environ
    token, chats = env.get(TELEGRAM_TOKEN_ENV, ""), env.get(TELEGRAM_CHATS_ENV, "")
    if token or chats:
        if not (token and chats):
            raise SecretsError(f"set both {TELEGRAM_TOKEN_ENV} and {TELEGRAM_CHATS_ENV}")
        ids = _chat_ids(chats.replace(",", " ").split(), TELEGRAM_CHATS_ENV)
        return TelegramAccess(Secret(token.strip()), ids, "environment")
    data = read_secrets_file(secrets_file)
    table = (data or {}).get("telegram")
    if table is None:
        return None
    where = f"{secrets_file}: [telegram]"
    if not isinstance(table, dict) or set(table) - {"token", "chat_ids"}:
        raise SecretsError(f'{where} takes token = "..." and chat_ids = [...] only')
    token_value = table.get("token")
    if not isinstance(token_value, str) or ":" not in token_value:
        raise SecretsError(f"{where}: token must be the bot token @BotFather gave (123:ABC…)")
    return TelegramAccess(
        Secret(token_value.strip()), _chat_ids(table.get("chat_ids"), where), str(secrets_file)
    )
