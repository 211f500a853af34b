"""The one base class of every error the user is shown as a sentence, not a traceback."""

from __future__ import annotations


class TradebotError(Exception):
    """Something the user must fix or decide: the message says what is wrong and where.

    The command line prints it as one line and exits with status 2; the app shows it. Bugs
    and engine crashes are never of this type: they keep their traceback.
    """


def error_text(exc: BaseException, limit: int = 200) -> str:
    """`Type: message` of an error on one line, cut to `limit` characters (for logs and
    notices: the type says what kind of trouble, the message where)."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
