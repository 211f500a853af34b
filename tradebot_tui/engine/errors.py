"""Engine failures: taking trio's exception groups apart and saying what went wrong."""

from __future__ import annotations

import logging

import trio

from tradebot_tui.core.errors import TradebotError, leaf_errors

__all__ = [
    "InjectedCrash",
    "crash_later",
    "describe_error",
    "is_cancellation",
    "leaf_errors",
    "log_stop",
    "real_errors",
]

log = logging.getLogger("tradebot.engine")


class InjectedCrash(RuntimeError):
    """Raised on purpose by `--inject-engine-crash` to test crash handling."""


def real_errors(exc: BaseException) -> list[BaseException]:
    """The leaves of `exc` that are not trio cancellations."""
    return [leaf for leaf in leaf_errors(exc) if not isinstance(leaf, trio.Cancelled)]


def is_cancellation(exc: BaseException) -> bool:
    """Whether `exc` is only trio cancellations (a stop, not a failure)."""
    return all(isinstance(leaf, trio.Cancelled) for leaf in leaf_errors(exc))


def describe_error(exc: BaseException) -> str:
    """`Type: message` of every real error inside a (nested) exception group."""
    return "; ".join(
        f"{type(leaf).__name__}: {leaf}"
        for leaf in leaf_errors(exc)
        if not isinstance(leaf, trio.Cancelled)
    )


def log_stop(exc: BaseException) -> tuple[str, bool]:
    """Log why the engine stops; returns (why, crashed). A TradebotError is the user's to
    decide (an error line); anything else is a crash (with its traceback)."""
    errors = real_errors(exc)
    if not errors:
        return "shut down", False
    why = describe_error(exc)
    if all(isinstance(e, TradebotError) for e in errors):
        log.error("engine stopped: %s", why)
        return why, False
    log.critical("engine failed: %s", why, exc_info=exc)
    return why, True


async def crash_later(seconds: float) -> None:
    """Raise InjectedCrash after `seconds` (`--inject-engine-crash`)."""
    await trio.sleep(seconds)
    raise InjectedCrash(f"injected engine crash after {seconds:g}s (--inject-engine-crash)")
