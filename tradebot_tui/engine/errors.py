"""Engine failures: taking trio's exception groups apart and saying what went wrong."""

from __future__ import annotations

import trio

from tradebot_tui.core.errors import leaf_errors

__all__ = ["InjectedCrash", "describe_error", "is_cancellation", "leaf_errors", "real_errors"]


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
