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


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions inside a (nested) exception group, or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaf_errors(inner)]
    return [exc]


def cause_text(exc: BaseException) -> str:
    """What really went wrong: `Type: message` of each error inside an exception group
    (a group's own text, "(1 sub-exception)", names no cause)."""
    return "; ".join(error_text(leaf) for leaf in leaf_errors(exc))
