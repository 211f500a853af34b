"""A symbol's status: what it is doing, or why it is not buying. Apart from the book
(`core.book` names it too), so that the app's first frame can show it without the
book's imports."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """What a symbol is doing, or why it is not buying (the watchlist's status column)."""

    NO_DATA = "no data"
    WARMING_UP = "warming up"
    WATCHING = "watching"
    BUYING = "buying"
    IN_POSITION = "in position"
    SELLING = "selling"
    COOLDOWN = "cooldown"
    PAUSED = "paused"
    SYMBOL_PAUSED = "paused (this coin)"
    CIRCUIT_OPEN = "circuit open"
    MISMATCH = "balance mismatch"
    STALE = "stale price"
    DAILY_LOSS = "daily loss limit"
    DRAWDOWN = "max drawdown"
    MAX_POSITIONS = "max positions"
    BUDGET = "budget"
    BELOW_MINIMUM = "below minimum"
    ERROR = "error"
    RECOVERING = "recovering"
    # An order was sent and its outcome is not known yet: nothing new until it is.
    UNKNOWN = "order status unknown"
    # The exchange showed something about one of our orders that cannot be explained.
    UNEXPLAINED = "unexplained order"
    # Held, its feed quiet: the exits are evaluated on prices fetched by REST.
    IN_POSITION_REST = "in position (REST price)"
