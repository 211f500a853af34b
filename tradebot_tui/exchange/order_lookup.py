"""Finding an order on the exchange by what we know of it: by client id, then among the
account's orders and trades since it was sent, and adopted only if it is provably ours.

Binance's order query lags its order entry, and a client id is unique only among open
orders: an order found under our id is taken as the intent's only if symbol, side and
amount agree and it was created after the intent was journaled. Anything else is
reported, never guessed (docs/architecture.md, "Money rules").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import fmt_decimal
from tradebot_tui.core.orders import (
    OrderIntent,
    OrderStatus,
    Unexplained,
)
from tradebot_tui.exchange.client import ExchangeClient
from tradebot_tui.exchange.errors import ErrorKind, classify
from tradebot_tui.exchange.order_tracker import OrderTracker
from tradebot_tui.exchange.reports import (
    ExchangeOrder,
    ExchangeTrade,
    MalformedReport,
    parse_order,
    parse_trade,
)
from tradebot_tui.exchange.resilience import Priority

log = logging.getLogger("tradebot.broker")

# How far the exchange's creation time of an order may precede the intent's journaling
# time (ms) and still be ours: the two clocks are compared through the measured offset.
CREATED_SLACK_MS = 2_000
# Orders and trades asked for per symbol when the account is searched.
ACCOUNT_LIMIT = 1000


class OrderUnknown(Exception):
    """The order's fate could not be established (the symbol is put in error)."""


class OrderLookup:
    """Looks our orders up on the exchange and decides whether what it finds is ours."""

    def __init__(self, client: ExchangeClient, rules: Callable[[str], MarketRules | None]) -> None:
        self.client = client
        self.rules = rules

    async def recent_orders(self, symbol: str, since_ms: int | None = None) -> list[ExchangeOrder]:
        """The account's most recent orders of `symbol` (or those since `since_ms`)."""
        raw = await self.client.call(
            "fetch_orders", symbol, since_ms, ACCOUNT_LIMIT, priority=Priority.QUERY
        )
        return [parse_order(o) for o in raw]

    async def recent_trades(self, symbol: str, since_ms: int) -> list[ExchangeTrade]:
        """The account's executions of `symbol` since `since_ms`."""
        raw = await self.client.call(
            "fetch_my_trades", symbol, since_ms, ACCOUNT_LIMIT, priority=Priority.QUERY
        )
        return [parse_trade(t) for t in raw]

    async def by_client_id(self, intent: OrderIntent, priority: Priority) -> ExchangeOrder | None:
        """The order by its client id; None when the exchange says it does not exist (yet).

        Raises:
            OrderUnknown: the exchange could not be asked, or answered nonsense.
        """
        try:
            raw = await self.client.call(
                "fetch_order",
                None,
                intent.symbol,
                {"origClientOrderId": intent.client_id},
                priority=priority,
            )
        except trio.Cancelled:
            raise
        except Exception as exc:
            if classify(exc) is ErrorKind.NOT_FOUND:
                return None
            raise OrderUnknown(f"looking up {intent.client_id}: {error_text(exc)}") from exc
        try:
            return parse_order(raw)
        except MalformedReport as exc:
            raise OrderUnknown(f"looking up {intent.client_id}: {exc}") from None

    async def search_account(self, intent: OrderIntent, sent_ms: int) -> ExchangeOrder | None:
        """The account's orders and trades of the symbol since the intent was sent.

        Raises:
            OrderUnknown: the account could not be read, or shows executions of orders it
                does not list (nothing may be guessed).
        """
        since = self.exchange_ms(sent_ms) - 60_000
        try:
            orders = await self.recent_orders(intent.symbol, since)
            trades = await self.recent_trades(intent.symbol, since)
        except trio.Cancelled:
            raise
        except Exception as exc:
            raise OrderUnknown(
                f"{intent.client_id}: the account's orders could not be read ({error_text(exc)})"
            ) from exc
        mine = [o for o in orders if o.client_id == intent.client_id]
        if mine:
            return mine[-1]
        listed = {o.order_id for o in orders}
        for order_id in sorted({t.order_id for t in trades if t.order_id not in listed}):
            # An execution of an order created before the search began (a limit order
            # open for long): explained once the order shows another client id.
            other = await self._order_by_id(intent, order_id)
            if other is None or other.client_id == intent.client_id:
                raise OrderUnknown(
                    f"{intent.client_id}: the account shows {intent.symbol} executions of "
                    f"order {order_id}, which it does not list: nothing can be concluded"
                )
        return None

    async def _order_by_id(self, intent: OrderIntent, order_id: str) -> ExchangeOrder | None:
        try:
            raw = await self.client.call(
                "fetch_order", order_id, intent.symbol, priority=Priority.QUERY
            )
            return parse_order(raw)
        except trio.Cancelled:
            raise
        except Exception:
            return None

    def adoptable(
        self, intent: OrderIntent, tracker: OrderTracker, order: ExchangeOrder, sent_ms: int
    ) -> bool:
        """Whether `order`, found under the intent's client id, is the intent's.

        It must be of the same symbol and side, for the amount within one quantity step,
        and created after the intent was journaled. Otherwise the intent fails and the
        symbol is held, both figures told.
        """
        rules = self.rules(intent.symbol)
        step = rules.qty_step if rules is not None else Decimal("0.00000001")
        created = order.created_ms
        not_before = self.exchange_ms(sent_ms) - CREATED_SLACK_MS
        problems = []
        if order.symbol != intent.symbol or order.side is not intent.side:
            problems.append("symbol or side")
        if abs(order.amount - intent.qty) > step:
            problems.append("amount")
        if created is not None and created < not_before:
            problems.append("created before the intent")
        if not problems:
            return True
        theirs = (
            f"{order.side.value} {fmt_decimal(order.amount)} {order.symbol} created at "
            f"{_stamp(created)}"
        )
        ours = (
            f"{intent.side.value} {fmt_decimal(intent.qty)} {intent.symbol} journaled at "
            f"{_stamp(self.exchange_ms(sent_ms))}"
        )
        message = (
            f"{intent.client_id} on the exchange is not this intent ({', '.join(problems)}): "
            f"the exchange has {theirs}; the intent was {ours}"
        )
        log.error("%s; entries for %s stop until you have looked", message, intent.symbol)
        tracker.emit(Unexplained(intent.client_id, message))
        tracker.close(OrderStatus.FAILED, message)
        return False

    def exchange_ms(self, local_ms: int) -> int:
        """Our wall-clock time as the exchange's clock reads it."""
        return local_ms - (self.client.clock_offset_ms or 0)


def _stamp(ms: int | None) -> str:
    if ms is None:
        return "an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d} UTC"
