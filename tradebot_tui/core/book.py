"""What the trader knows of one symbol: its book, its position, the trades it closed, and
the status the watchlist shows for it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from tradebot_tui.core.anchors import AnchorTracker
from tradebot_tui.core.bracket import RestingList
from tradebot_tui.core.exits import ExitReason, ExitWatch
from tradebot_tui.core.lifecycle import Lifecycle, State
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import DIVISION, ZERO
from tradebot_tui.core.orders import OrderIntent
from tradebot_tui.core.status import Status

BUYING = (State.ENTRY_PENDING, State.ENTRY_PARTIAL)


@dataclass(slots=True)
class Position:
    """What is held of one symbol, at cost, plus what was sold of it so far."""

    symbol: str
    qty: Decimal
    cost: Decimal
    entry_fees: Decimal
    entry_ts_ms: int
    bought_qty: Decimal
    bought_cost: Decimal
    sold_qty: Decimal = ZERO
    sold_basis: Decimal = ZERO
    sold_proceeds: Decimal = ZERO
    exit_fees: Decimal = ZERO

    @property
    def entry_price(self) -> Decimal:
        """Weighted average price of everything bought (dust merged in included)."""
        with localcontext(DIVISION):
            return self.bought_cost / self.bought_qty


@dataclass(frozen=True, slots=True)
class Trade:
    """A closed round trip; `pnl` = proceeds - cost of what was sold - all fees."""

    symbol: str
    entry_ts_ms: int
    entry_price: Decimal
    exit_ts_ms: int
    exit_price: Decimal
    qty: Decimal
    exit_reason: ExitReason
    pnl: Decimal
    fees: Decimal


class SymbolBook(Lifecycle):
    """Runtime state of one symbol; its lifecycle state is `state`."""

    __slots__ = (
        "anchor",
        "anchor_price",
        "blocked",
        "error",
        "exit_due",
        "exit_reason",
        "filled",
        "last_exit_ts",
        "last_price",
        "last_ts",
        "order",
        "order_unknown",
        "position",
        "protect_note",
        "rest_ts",
        "resting",
        "rules",
        "watch",
    )

    def __init__(self, symbol: str, rules: MarketRules, anchor: AnchorTracker) -> None:
        super().__init__(symbol)
        self.rules = rules
        self.anchor = anchor
        self.last_price = 0.0
        self.last_ts = 0
        self.anchor_price: float | None = None
        self.position: Position | None = None
        self.watch: ExitWatch | None = None
        self.order: OrderIntent | None = None
        # The exchange has not said yet whether `order` exists (its answer was lost).
        self.order_unknown = False
        # The time of the last price fetched by REST (the feed went quiet); 0: none.
        self.rest_ts = 0
        self.filled = ZERO
        self.exit_reason: ExitReason | None = None
        # An exit that fired (or was asked for) while the symbol was in error or its buy
        # was still open: sent as soon as the order is settled or the buy has ended.
        self.exit_due: ExitReason | None = None
        self.last_exit_ts: int | None = None
        # Why the last decision to buy refused (None: it bought, or never decided).
        self.blocked: Status | None = None
        self.error = ""
        # Live, with `exits.on_exchange`: the order list the position rests on, and why
        # none rests when none does ("" while nothing was tried yet).
        self.resting: RestingList | None = None
        self.protect_note = ""

    @property
    def buying(self) -> bool:
        """A buy order of ours is open (nothing or part of it filled so far)."""
        return self.state in BUYING
