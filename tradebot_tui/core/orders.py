"""Orders: intents, fills, terminal states and deterministic client order ids."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tradebot_tui.core.exits import ExitReason

# Binance accepts up to 36 characters of [A-Za-z0-9-_] as a client order id.
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
PROFILE_RE = re.compile(r"^[A-Za-z0-9]{1,10}$")
# A journal's identity, part of every client id it makes ("sim" for runs without one).
IDENTITY_RE = re.compile(r"^[a-z0-9]{3,8}$")


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


def client_id_prefix(profile: str, identity: str | None = None) -> str:
    """What our client order ids start with: `tb-<profile>-` for every journal of the
    profile, `tb-<profile>-<identity>-` for one journal's.

    Raises:
        ValueError: a profile that is not 1-10 letters or digits, or a bad identity.
    """
    if not PROFILE_RE.match(profile):
        raise ValueError(f"profile {profile!r} must be 1-10 letters or digits")
    if identity is None:
        return f"tb-{profile}-"
    if not IDENTITY_RE.match(identity):
        raise ValueError(f"journal identity {identity!r} must be 3-8 lowercase letters or digits")
    return f"tb-{profile}-{identity}-"


def client_order_id(prefix: str, seq: int) -> str:
    """`<prefix><seq>`: `tb-<profile>-<identity>-<seq>`, checked against Binance's rules.

    The journal's identity makes ids unique for the account forever: a new journal (moved
    aside, lost, or on another machine) has another identity, so it can never produce an
    id an earlier one used (Binance accepts a reused id once its order is over, as a new
    order). The longest id, a 10-letter profile and a 13-digit sequence, is 36 characters.

    Raises:
        ValueError: the id would not fit Binance's 36 characters of [A-Za-z0-9-_].
    """
    cid = f"{prefix}{seq}"
    if not CLIENT_ID_RE.match(cid):
        raise ValueError(f"client order id {cid!r} is longer than 36 characters")
    return cid


def client_id_seq(client_id: str) -> int | None:
    """The sequence number at the end of one of our client ids, else None."""
    tail = client_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


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
