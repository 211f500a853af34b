"""Orders: intents, fills, terminal states and what a broker reports of them (the ids
they carry are `core.identity`'s)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tradebot_tui.core.exits import ExitReason


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Purpose(StrEnum):
    """Whether an order opens or closes a position."""

    ENTRY = "entry"
    EXIT = "exit"


class OrderStatus(StrEnum):
    """Where an order stands. The last five are terminal."""

    PENDING = "pending"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.FAILED,
    }
)


class OrderKind(StrEnum):
    """How an order executes. A sale by an order list's leg (`exits.on_exchange`) is
    journaled with the leg's kind: its price is the leg's, not the market's."""

    MARKET = "market"
    LIMIT_MAKER = "limit_maker"  # the take-profit leg: fills at its price
    STOP_LOSS_LIMIT = "stop_loss_limit"  # the stop leg: at the market once triggered
    # Dust converted on the exchange (Binance's small-asset conversion to BNB): the coin
    # leaves for no quote at all (`core.sweep`).
    DUST_CONVERT = "dust_convert"


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the strategy wants placed (market order of `qty` at about `price`)."""

    client_id: str
    symbol: str
    side: Side
    purpose: Purpose
    qty: Decimal
    price: Decimal
    ts_ms: int
    reserved: Decimal = Decimal(0)
    reason: ExitReason | None = None
    anchor: float | None = None
    drop_pct: float | None = None
    kind: OrderKind = OrderKind.MARKET


@dataclass(frozen=True, slots=True)
class Fill:
    """A (partial) execution of an order; fee in the quote currency.

    `qty` is what changed hands for us. When the exchange takes its commission in the
    base asset (Binance buys), `commission_qty` of the executed amount never arrives: it
    is not in `qty`, and its value at `price` is part of `fee`. When it takes it in a
    third asset (BNB), `fee_elsewhere` is that commission's quote value, also part of
    `fee`: it never leaves the quote balance.
    """

    client_id: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    ts_ms: int
    commission_qty: Decimal = Decimal(0)
    fee_elsewhere: Decimal = Decimal(0)

    @property
    def executed_qty(self) -> Decimal:
        return self.qty + self.commission_qty


@dataclass(frozen=True, slots=True)
class OrderClosed:
    """An order reached a terminal status; fills, if any, were reported before."""

    client_id: str
    status: OrderStatus
    ts_ms: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class OutcomeUnknown:
    """An order was sent and the answer was lost (timeout, 5xx, -1007, a dropped
    connection): until the exchange shows whether it exists, nothing is sent for its symbol."""

    client_id: str
    message: str


@dataclass(frozen=True, slots=True)
class Unexplained:
    """The exchange shows something about this order that its intent does not explain:
    entries on the symbol stop until the user has looked (both figures in `message`)."""

    client_id: str
    message: str


# What a broker reports about one of our orders.
BrokerEvent = Fill | OrderClosed | OutcomeUnknown | Unexplained
