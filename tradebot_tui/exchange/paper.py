"""Paper brokers: fills with fees, no real orders.

`PaperBroker` fills every order at once at its reference price (the tick that caused it):
the simulator's default and replay. `QuotePaperBroker` fills against live bid/ask (buys
at the ask, sells at the bid), after an optional latency and in optional slices, for paper
trading on real exchange data.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, localcontext

from tradebot_tui.core.fills import fill_at_reference
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import EXACT, dec, divide_down
from tradebot_tui.core.orders import (
    BrokerEvent,
    Fill,
    OrderClosed,
    OrderIntent,
    OrderKind,
    OrderStatus,
    Side,
)
from tradebot_tui.core.sweep import paper_conversion
from tradebot_tui.exchange.base import Emit, QuoteBook


class PaperBroker:
    """Fills every order completely at its reference price; fee in quote."""

    name = "paper"
    immediate = True

    def __init__(self, fee_rate: Decimal) -> None:
        self.fee_rate = fee_rate

    def execute(self, intent: OrderIntent) -> list[BrokerEvent]:
        """Fill `intent` at once (a conversion of dust as `core.sweep` models it)."""
        if intent.kind is OrderKind.DUST_CONVERT:
            return paper_conversion(intent)
        return fill_at_reference(intent, self.fee_rate)

    async def follow(self, intent: OrderIntent, emit: Emit) -> None:
        for event in self.execute(intent):
            emit(event)


class QuotePaperBroker:
    """Paper fills at the live bid/ask, with optional latency and partial fills."""

    name = "paper"
    immediate = False

    def __init__(
        self,
        fee_rate: Decimal,
        quotes: QuoteBook,
        rules: Callable[[str], MarketRules | None] = lambda symbol: None,
        *,
        latency_s: float = 0.0,
        slices: int = 1,
    ) -> None:
        self.fee_rate = fee_rate
        self.quotes = quotes
        self.rules = rules
        self.latency_s = latency_s
        self.slices = max(1, slices)

    def execute(self, intent: OrderIntent) -> list[BrokerEvent]:
        raise NotImplementedError("QuotePaperBroker fills asynchronously; use follow()")

    def _price(self, intent: OrderIntent) -> Decimal:
        if intent.kind is OrderKind.LIMIT_MAKER:
            return intent.price  # a resting take-profit leg fills at its own price
        quote = self.quotes.get(intent.symbol)
        if quote is None:
            return intent.price
        return dec(quote.ask if intent.side is Side.BUY else quote.bid)

    async def follow(self, intent: OrderIntent, emit: Emit) -> None:
        import trio  # here, not at the top: the headless replay never imports trio

        if self.latency_s:
            await trio.sleep(self.latency_s)
        if intent.kind is OrderKind.DUST_CONVERT:
            for event in paper_conversion(intent):
                emit(event)
            return
        rules = self.rules(intent.symbol)
        parts = self._slices(intent.qty, rules)
        ts = intent.ts_ms
        for i, qty in enumerate(parts):
            if i:
                await trio.sleep(max(self.latency_s, 0.001))
            price = self._price(intent)
            with localcontext(EXACT):
                fee = qty * price * self.fee_rate
            emit(Fill(intent.client_id, qty, price, fee, ts))
        emit(OrderClosed(intent.client_id, OrderStatus.FILLED, ts))

    def _slices(self, qty: Decimal, rules: MarketRules | None) -> list[Decimal]:
        if self.slices == 1:
            return [qty]
        step = rules.qty_step if rules is not None else Decimal("0.00000001")
        part = divide_down(qty, Decimal(self.slices), step)
        if part <= 0:
            return [qty]
        parts = [part] * (self.slices - 1)
        with localcontext(EXACT):
            parts.append(qty - part * (self.slices - 1))
        return parts
