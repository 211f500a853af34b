"""The live broker: real orders through ccxt, followed to their end by client order id.

Placing is made idempotent by the deterministic client order id: when a create call fails
in a way that may have reached the exchange (timeout, dropped connection, 5xx), the broker
looks the id up before sending again, so an order is never placed twice; the exchange
refuses a reused id anyway. Fills are derived from the order's cumulative filled amount
and cost, so a fill is never counted twice either. There is no withdrawal, transfer or
any other call that moves funds off the exchange anywhere in this module.
"""

from __future__ import annotations

import logging
from decimal import Decimal, localcontext

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.money import DIVISION, EXACT, ZERO
from tradebot_tui.core.orders import Fill, OrderClosed, OrderIntent, OrderStatus, Purpose, Side
from tradebot_tui.exchange.base import Emit
from tradebot_tui.exchange.client import CircuitOpen, ExchangeClient
from tradebot_tui.exchange.errors import ErrorKind, classify
from tradebot_tui.exchange.reports import (
    Balance,
    ExchangeOrder,
    FeePaid,
    MalformedReport,
    parse_balances,
    parse_order,
    parse_price,
    parse_trade,
)
from tradebot_tui.exchange.resilience import Priority

log = logging.getLogger("tradebot.broker")


class OrderUnknown(Exception):
    """The order's fate could not be established (the symbol is put in error)."""


class CcxtBroker:
    """Market (or limit) orders on a real exchange, followed until they end."""

    name = "live"
    immediate = False

    def __init__(
        self,
        client: ExchangeClient,
        fee_rate: Decimal,
        *,
        order_type: str = "market",
        poll_s: float = 0.5,
        max_poll_s: float = 5.0,
        order_timeout_s: float = 60.0,
        place_attempts: int = 5,
    ) -> None:
        self.client = client
        self.fee_rate = fee_rate
        self.order_type = order_type
        self.poll_s = poll_s
        self.max_poll_s = max_poll_s
        self.order_timeout_s = order_timeout_s
        self.place_attempts = place_attempts

    def execute(self, intent: OrderIntent) -> list[Fill | OrderClosed]:
        raise NotImplementedError("CcxtBroker places orders asynchronously; use follow()")

    async def balances(self) -> dict[str, Balance]:
        """Free and locked amount of every asset the account holds."""
        return parse_balances(await self.client.call("fetch_balance", priority=Priority.QUERY))

    async def follow(self, intent: OrderIntent, emit: Emit) -> None:
        tracker = _Tracker(intent, emit, self.fee_rate)
        order = await self._place(intent, tracker)
        if order is None:
            return
        await self._until_done(intent, tracker, order)

    async def resume(
        self, intent: OrderIntent, emit: Emit, known: list[Fill], order: ExchangeOrder
    ) -> None:
        """Follow an order found on the exchange after a restart; `known`: fills journaled."""
        tracker = _Tracker(intent, emit, self.fee_rate)
        tracker.resume(known)
        await self._until_done(intent, tracker, order)

    async def lookup(self, intent: OrderIntent) -> ExchangeOrder | None:
        """The order as the exchange has it, or None if it never got there."""
        return await self._lookup(intent, Priority.QUERY)

    async def price(self, symbol: str) -> Decimal:
        """The last traded price of `symbol` (to value an order that has none)."""
        ticker = await self.client.call("fetch_ticker", symbol, priority=Priority.QUERY)
        return parse_price(ticker, symbol)

    async def open_orders(self, prefix: str) -> list[ExchangeOrder]:
        """Open orders on the exchange whose client id starts with `prefix`."""
        orders = await self.client.call("fetch_open_orders", priority=Priority.QUERY)
        return [o for o in map(parse_order, orders) if o.client_id.startswith(prefix)]

    async def cancel(self, intent: OrderIntent) -> None:
        """Ask the exchange to cancel by client id (its follower sees the result).

        An order that is over already (not found) is no error.

        Raises:
            Exception: the exchange's error when the cancel did not go through.
        """
        try:
            await self.client.call(
                "cancel_order",
                None,
                intent.symbol,
                {"origClientOrderId": intent.client_id},
                priority=Priority.CANCEL,
            )
        except trio.Cancelled:
            raise
        except Exception as exc:
            if classify(exc) is not ErrorKind.NOT_FOUND:
                raise

    async def _until_done(
        self, intent: OrderIntent, tracker: _Tracker, order: ExchangeOrder
    ) -> None:
        waited = 0.0
        delay = self.poll_s
        while not tracker.apply(await self._with_fees(intent, tracker, order)):
            if waited >= self.order_timeout_s:
                order = await self._cancel(intent)
                if not tracker.apply(await self._with_fees(intent, tracker, order)):
                    raise OrderUnknown(f"{intent.client_id} still open after cancelling it")
                return
            await trio.sleep(delay)
            waited += delay
            delay = min(delay * 1.5, self.max_poll_s)
            found = await self._lookup(intent, Priority.QUERY)
            if found is None:
                raise OrderUnknown(f"{intent.client_id} vanished from the exchange")
            order = found

    async def _with_fees(
        self, intent: OrderIntent, tracker: _Tracker, order: ExchangeOrder
    ) -> ExchangeOrder:
        """`order`, with its commissions from the account's trades when it has none.

        Binance's order query reports no fees; its trade list does, in the asset they were
        charged in (the base asset on buys), which decides how much actually arrived.
        """
        if order.filled <= tracker.filled or order.fees:
            return order
        try:
            raw = await self.client.call(
                "fetch_my_trades",
                intent.symbol,
                None,
                None,
                {"orderId": order.order_id},
                priority=Priority.QUERY,
            )
            trades = [parse_trade(t) for t in raw]
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.warning("%s: no trade list (%s); fees estimated", intent.client_id, error_text(exc))
            return order
        totals: dict[str, Decimal] = {}
        executed = ZERO
        for trade in trades:
            if trade.order_id != order.order_id:
                continue
            executed += trade.amount
            if trade.fee is not None:
                totals[trade.fee.currency] = totals.get(trade.fee.currency, ZERO) + trade.fee.cost
        if executed != order.filled:
            return order  # the trade list lags the order: estimate now, exact next time
        return order.with_fees(tuple(FeePaid(c, v) for c, v in totals.items()))

    async def _place(self, intent: OrderIntent, tracker: _Tracker) -> ExchangeOrder | None:
        priority = Priority.ENTRY if intent.purpose is Purpose.ENTRY else Priority.EXIT
        side = "buy" if intent.side is Side.BUY else "sell"
        price = float(intent.price) if self.order_type == "limit" else None
        params = {"newClientOrderId": intent.client_id}
        for attempt in range(self.place_attempts):
            try:
                placed = await self.client.call(
                    "create_order",
                    intent.symbol,
                    self.order_type,
                    side,
                    float(intent.qty),
                    price,
                    params,
                    priority=priority,
                    retry=False,
                )
                try:
                    return parse_order(placed)
                except MalformedReport as exc:
                    log.warning(
                        "%s: unreadable answer to the order (%s); looking it up",
                        intent.client_id,
                        exc,
                    )
            except CircuitOpen as exc:
                tracker.close(OrderStatus.REJECTED, str(exc))
                return None
            except trio.Cancelled:
                raise
            except Exception as exc:
                message = error_text(exc, 400)
                if classify(exc) is ErrorKind.REFUSED:
                    log.error("%s %s refused: %s", side, intent.symbol, message)
                    tracker.close(OrderStatus.REJECTED, message)
                    return None
                log.warning(
                    "%s %s: %s; checking whether it was placed", side, intent.symbol, message
                )
            # Did the exchange take it before the answer was lost?
            order = await self._lookup(intent, Priority.QUERY)
            if order is not None:
                log.info("%s was placed despite the error; following it", intent.client_id)
                return order
            await trio.sleep(min(0.25 * 2**attempt, 5.0))
        tracker.close(OrderStatus.FAILED, "not placed: the exchange kept failing")
        return None

    async def _lookup(self, intent: OrderIntent, priority: Priority) -> ExchangeOrder | None:
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

    async def _cancel(self, intent: OrderIntent) -> ExchangeOrder:
        try:
            await self.cancel(intent)
        except trio.Cancelled:
            raise
        except Exception as exc:
            raise OrderUnknown(f"cancelling {intent.client_id}: {exc}") from exc
        order = await self._lookup(intent, Priority.CANCEL)
        if order is None:
            raise OrderUnknown(f"{intent.client_id} vanished after cancel")
        return order


class _Tracker:
    """Turns cumulative order states into incremental fills and one closure.

    Amounts are the exchange's cumulative executed amount and cost; fees the cumulative
    commissions it reports, in quote or in the base asset (which then never reaches us:
    the fill's `qty` is net of it). Unreported fees are estimated at the fee rate.
    """

    def __init__(self, intent: OrderIntent, emit: Emit, fee_rate: Decimal) -> None:
        self.intent = intent
        self.emit = emit
        self.fee_rate = fee_rate
        self.filled = ZERO  # executed, commission included
        self.cost = ZERO
        self.quote_fees = ZERO
        self.base_fees = ZERO
        self.closed = False
        self.base, _, self.quote = intent.symbol.partition("/")

    def resume(self, known: list[Fill]) -> None:
        """Start from the fills already journaled (after a restart)."""
        with localcontext(EXACT):
            for fill in known:
                executed = fill.executed_qty
                self.filled += executed
                self.cost += executed * fill.price
                self.base_fees += fill.commission_qty
                self.quote_fees += fill.fee - fill.commission_qty * fill.price

    def apply(self, order: ExchangeOrder) -> bool:
        """Emit what is new in `order`; True once the order is over."""
        filled, cost = order.filled, order.cost
        if filled > self.filled:
            with localcontext(EXACT):
                qty = filled - self.filled
            if cost is None or cost <= self.cost:
                price = order.average or order.price or self.intent.price
                with localcontext(EXACT):
                    value = qty * price
            else:
                with localcontext(EXACT):
                    value = cost - self.cost
                with localcontext(DIVISION):
                    price = value / qty
            quote_fee, base_fee = self._fees(order, value)
            with localcontext(EXACT):
                self.filled = filled
                self.cost += value
                self.quote_fees += quote_fee
                self.base_fees += base_fee
                fee = quote_fee + base_fee * price
                received = qty - base_fee
            ts = order.updated_ms or order.created_ms or self.intent.ts_ms
            self.emit(Fill(self.intent.client_id, received, price, fee, ts, base_fee))
        if order.status.terminal:
            final = order.status
            if final is OrderStatus.FILLED and self.filled < self.intent.qty:
                final = OrderStatus.CANCELED if self.filled == 0 else final
            self.close(final, "")
            return True
        return False

    def _fees(self, order: ExchangeOrder, value: Decimal) -> tuple[Decimal, Decimal]:
        """(quote fee, base-asset fee) of the new part: as reported, else estimated."""
        quote_total = base_total = ZERO
        known = False
        for fee in order.fees:
            if fee.currency == self.quote:
                quote_total += fee.cost
                known = True
            elif fee.currency == self.base:
                base_total += fee.cost
                known = True
        with localcontext(EXACT):
            if known:
                new_quote = quote_total - self.quote_fees
                new_base = base_total - self.base_fees
                if new_quote >= 0 and new_base >= 0:
                    return new_quote, new_base
            return value * self.fee_rate, ZERO

    def close(self, status: OrderStatus, message: str) -> None:
        if not self.closed:
            self.closed = True
            self.emit(OrderClosed(self.intent.client_id, status, self.intent.ts_ms, message))
