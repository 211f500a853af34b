"""ccxt's errors, classified once: what each one means for a retry, an order and the user.

One table, matched with `isinstance` on ccxt's own classes (most specific first), answers
every question the exchange code asks of an error: may the call be retried (and after
how long), did a refused order surely not happen, is the order simply not found. The
client's retries, its Retry-After handling, the broker's refusals and its "not found"
all read `classify`. This module imports ccxt, so only the exchange paths import it.

Binance (its spot API documentation) decides the meanings: a 429/418 rejects the request
(nothing was done); -1021 rejects a request whose timestamp is outside recvWindow; a 5xx,
-1007 or a lost connection leaves the execution status unknown; any other 4xx with an
error code is a refusal.
"""

from __future__ import annotations

from enum import StrEnum

import ccxt
import trio


class ErrorKind(StrEnum):
    """What an exchange error means for the call that raised it."""

    # 429/418: the request was rejected for now; wait Retry-After (all calls), then retry.
    RATE_LIMITED = "rate limited"
    # -1021: the timestamp is outside recvWindow; nothing was done; resync the clock, retry.
    CLOCK = "clock"
    # Network or exchange trouble: a query may be retried; a sent order's fate is unknown.
    TRANSIENT = "transient"
    # No such order (on Binance, possibly not *yet*: its order query lags order entry).
    NOT_FOUND = "not found"
    # The client order id is taken by an open order.
    DUPLICATE = "duplicate"
    # Refused for good (funds, filters, keys, symbol): retrying cannot help.
    REFUSED = "refused"
    # Not an exchange error at all (a bug, or a library surprise): never retried.
    UNEXPECTED = "unexpected"


_TABLE: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (ccxt.OrderNotFound, ErrorKind.NOT_FOUND),
    (ccxt.DuplicateOrderId, ErrorKind.DUPLICATE),
    (ccxt.InvalidNonce, ErrorKind.CLOCK),
    (ccxt.DDoSProtection, ErrorKind.RATE_LIMITED),  # RateLimitExceeded is one
    (ccxt.BadResponse, ErrorKind.TRANSIENT),  # an answer we cannot read
    (ccxt.OperationFailed, ErrorKind.TRANSIENT),  # NetworkError, RequestTimeout, 5xx, -1001
    (ccxt.ExchangeError, ErrorKind.REFUSED),  # funds, filters, keys, symbol, other codes
    (trio.TooSlowError, ErrorKind.TRANSIENT),  # our own deadline on the call
    (TimeoutError, ErrorKind.TRANSIENT),
    (ConnectionError, ErrorKind.TRANSIENT),
)

# Binance answers a client id in use with -2010 "Duplicate order sent.", which ccxt raises
# as a plain InvalidOrder: the message tells it apart.
_DUPLICATE_MESSAGES = ("Duplicate order sent",)


def classify(exc: BaseException) -> ErrorKind:
    """The kind of `exc` (see `ErrorKind`)."""
    for cls, kind in _TABLE:
        if isinstance(exc, cls):
            if kind is ErrorKind.REFUSED and any(m in str(exc) for m in _DUPLICATE_MESSAGES):
                return ErrorKind.DUPLICATE
            return kind
    return ErrorKind.UNEXPECTED


def retryable(kind: ErrorKind) -> bool:
    """Whether a query that failed so may simply be sent again (after a back-off)."""
    return kind in (ErrorKind.TRANSIENT, ErrorKind.RATE_LIMITED, ErrorKind.CLOCK)


def surely_not_done(kind: ErrorKind) -> bool:
    """Whether an order that failed so was surely not placed (the exchange refused it)."""
    return kind in (ErrorKind.REFUSED, ErrorKind.RATE_LIMITED, ErrorKind.CLOCK)
