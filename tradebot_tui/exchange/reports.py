"""What an exchange reports, parsed once at the edge into frozen types.

The live broker turns ccxt's order, balance and trade dicts into these where they enter;
recovery, reconciliation and the engine work on them and never index a ccxt dict (the
nautilus_trader model: `execution/reports.py`). A report that cannot be read raises
`MalformedReport`, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradebot_tui.core.money import ZERO, parse_decimal
from tradebot_tui.core.orders import OrderStatus, Side


class MalformedReport(ValueError):
    """An exchange answer that does not say what an order, balance or trade must say."""


# ccxt's unified order statuses. "closed" is filled; whether wholly is the caller's to see.
_STATUSES = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


@dataclass(frozen=True, slots=True)
class FeePaid:
    """A commission: `cost` in `currency` (the quote, the base asset or another coin)."""

    currency: str
    cost: Decimal


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """One order as the exchange has it.

    `filled` and `cost` are cumulative (executed amount, commission in the coin included,
    and its quote value); `fees` the commissions reported so far (empty: not reported).
    """

    client_id: str
    order_id: str
    symbol: str
    side: Side
    status: OrderStatus
    amount: Decimal
    filled: Decimal
    cost: Decimal | None
    average: Decimal | None
    price: Decimal | None
    fees: tuple[FeePaid, ...]
    created_ms: int | None
    updated_ms: int | None

    @property
    def is_open(self) -> bool:
        return not self.status.terminal

    def with_fees(self, fees: tuple[FeePaid, ...]) -> ExchangeOrder:
        """The same order with its commissions (read from the account's trade list)."""
        return ExchangeOrder(
            self.client_id,
            self.order_id,
            self.symbol,
            self.side,
            self.status,
            self.amount,
            self.filled,
            self.cost,
            self.average,
            self.price,
            fees,
            self.created_ms,
            self.updated_ms,
        )


@dataclass(frozen=True, slots=True)
class Balance:
    """What the account holds of one asset: free to trade, and locked in open orders."""

    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class ExchangeTrade:
    """One execution of one of the account's orders."""

    trade_id: str
    order_id: str
    symbol: str
    amount: Decimal
    price: Decimal
    fee: FeePaid | None
    ts_ms: int | None


def _number(raw: Mapping[str, Any], key: str, what: str) -> Decimal | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    try:
        return parse_decimal(value, f"{what} {key}", nonnegative=True)
    except ValueError as exc:
        raise MalformedReport(str(exc)) from None


def _required(raw: Mapping[str, Any], key: str, what: str) -> Decimal:
    value = _number(raw, key, what)
    if value is None:
        raise MalformedReport(f"{what} has no {key}")
    return value


def _ms(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _fee(raw: Any, what: str) -> FeePaid | None:
    if not isinstance(raw, Mapping) or raw.get("cost") is None or not raw.get("currency"):
        return None
    cost = _number(raw, "cost", f"{what} fee")
    assert cost is not None
    return FeePaid(str(raw["currency"]), cost)


def parse_order(raw: Any) -> ExchangeOrder:
    """A ccxt unified order as an `ExchangeOrder`.

    Raises:
        MalformedReport: not an order (no client id, symbol, side, status or amount).
    """
    if not isinstance(raw, Mapping):
        raise MalformedReport(f"an order must be an object, got {type(raw).__name__}")
    client_id = str(raw.get("clientOrderId") or "")
    what = f"order {client_id or raw.get('id') or '?'}"
    symbol = raw.get("symbol")
    if not client_id or not isinstance(symbol, str) or not symbol:
        raise MalformedReport(f"{what}: no client order id or symbol")
    side = raw.get("side")
    if side not in ("buy", "sell"):
        raise MalformedReport(f"{what}: side {side!r}")
    status = _STATUSES.get(str(raw.get("status")))
    if status is None:
        raise MalformedReport(f"{what}: status {raw.get('status')!r}")
    filled = _number(raw, "filled", what) or ZERO
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    fees = raw.get("fees") or ([raw["fee"]] if raw.get("fee") else [])
    return ExchangeOrder(
        client_id=client_id,
        order_id=str(raw.get("id") or ""),
        symbol=symbol,
        side=Side(side),
        status=status,
        amount=_required(raw, "amount", what),
        filled=filled,
        cost=_number(raw, "cost", what),
        average=_number(raw, "average", what),
        price=_number(raw, "price", what),
        fees=tuple(f for f in (_fee(x, what) for x in fees) if f is not None),
        created_ms=_ms(raw.get("timestamp")),
        updated_ms=_ms(raw.get("lastTradeTimestamp")),
    )


def parse_balances(raw: Any) -> dict[str, Balance]:
    """ccxt's `fetch_balance` answer: every asset the account holds something of.

    Raises:
        MalformedReport: an amount that is not a number.
    """
    if not isinstance(raw, Mapping):
        raise MalformedReport("a balance must be an object")
    free = raw.get("free") or {}
    used = raw.get("used") or {}
    out: dict[str, Balance] = {}
    for asset in set(free) | set(used):
        f = _number(free, asset, "free balance") or ZERO
        u = _number(used, asset, "locked balance") or ZERO
        if f or u:
            out[str(asset)] = Balance(f, u)
    return out


def parse_trade(raw: Any) -> ExchangeTrade:
    """A ccxt unified trade (one of ours) as an `ExchangeTrade`.

    Raises:
        MalformedReport: no order id, amount or price.
    """
    if not isinstance(raw, Mapping):
        raise MalformedReport("a trade must be an object")
    what = f"trade {raw.get('id') or '?'}"
    order_id = raw.get("order")
    if order_id is None:
        raise MalformedReport(f"{what}: no order id")
    return ExchangeTrade(
        trade_id=str(raw.get("id") or ""),
        order_id=str(order_id),
        symbol=str(raw.get("symbol") or ""),
        amount=_required(raw, "amount", what),
        price=_required(raw, "price", what),
        fee=_fee(raw.get("fee"), what),
        ts_ms=_ms(raw.get("timestamp")),
    )


def parse_price(raw: Any, symbol: str) -> Decimal:
    """The last price of a ccxt ticker (its close when there is no last).

    Raises:
        MalformedReport: no usable price.
    """
    if not isinstance(raw, Mapping):
        raise MalformedReport(f"ticker {symbol}: not an object")
    price = _number(raw, "last", f"ticker {symbol}") or _number(raw, "close", f"ticker {symbol}")
    if not price:
        raise MalformedReport(f"ticker {symbol}: no price")
    return price
