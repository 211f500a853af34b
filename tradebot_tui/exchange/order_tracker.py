"""Following one order's fills: cumulative exchange states turned into incremental fills
and one closure, so that a fill is never counted twice whatever is asked how often."""

from __future__ import annotations

from decimal import Decimal, localcontext

from tradebot_tui.core.money import DIVISION, EXACT, ZERO
from tradebot_tui.core.orders import (
    Fill,
    OrderClosed,
    OrderIntent,
    OrderStatus,
)
from tradebot_tui.exchange.base import Emit
from tradebot_tui.exchange.reports import (
    ExchangeOrder,
)


class OrderTracker:
    """Turns cumulative order states into incremental fills and one closure.

    Amounts are the exchange's cumulative executed amount and cost; fees the cumulative
    commissions it reports, in quote or in the base asset (which then never reaches us:
    the fill's `qty` is net of it), or in a third asset such as BNB (valued at `rates`,
    quote per unit, and never taken from the quote). Unreported fees are estimated at the
    fee rate.
    """

    def __init__(self, intent: OrderIntent, emit: Emit, fee_rate: Decimal) -> None:
        self.intent = intent
        self.emit = emit
        self.fee_rate = fee_rate
        self.filled = ZERO  # executed, commission included
        self.cost = ZERO
        self.quote_fees = ZERO
        self.base_fees = ZERO
        self.elsewhere = ZERO  # quote value of third-asset commissions accounted so far
        self.rates: dict[str, Decimal] = {}
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
                self.elsewhere += fill.fee_elsewhere
                self.quote_fees += fill.fee - fill.commission_qty * fill.price - fill.fee_elsewhere

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
            quote_fee, base_fee, elsewhere = self._fees(order, value)
            with localcontext(EXACT):
                self.filled = filled
                self.cost += value
                self.quote_fees += quote_fee
                self.base_fees += base_fee
                self.elsewhere += elsewhere
                fee = quote_fee + base_fee * price + elsewhere
                received = qty - base_fee
            ts = order.updated_ms or order.created_ms or self.intent.ts_ms
            self.emit(Fill(self.intent.client_id, received, price, fee, ts, base_fee, elsewhere))
        if order.status.terminal:
            final = order.status
            if final is OrderStatus.FILLED and self.filled < self.intent.qty:
                final = OrderStatus.CANCELED if self.filled == 0 else final
            self.close(final, "")
            return True
        return False

    def _fees(self, order: ExchangeOrder, value: Decimal) -> tuple[Decimal, Decimal, Decimal]:
        """(quote fee, base-asset fee, quote value of a third-asset fee) of the new part:
        as reported, else estimated."""
        quote_total = base_total = other_total = ZERO
        unpriced = False
        with localcontext(EXACT):
            for fee in order.fees:
                if fee.currency == self.quote:
                    quote_total += fee.cost
                elif fee.currency == self.base:
                    base_total += fee.cost
                elif fee.currency in self.rates:
                    other_total += fee.cost * self.rates[fee.currency]
                else:
                    unpriced = True
            if order.fees:
                new_quote = quote_total - self.quote_fees
                new_base = base_total - self.base_fees
                if unpriced:  # paid elsewhere, value unknown: estimated at the fee rate
                    new_other = value * self.fee_rate
                else:  # the price may have moved since an earlier part: never below 0
                    new_other = max(other_total - self.elsewhere, ZERO)
                if new_quote >= 0 and new_base >= 0:
                    return new_quote, new_base, new_other
            return value * self.fee_rate, ZERO, ZERO

    def close(self, status: OrderStatus, message: str) -> None:
        if not self.closed:
            self.closed = True
            self.emit(OrderClosed(self.intent.client_id, status, self.intent.ts_ms, message))
