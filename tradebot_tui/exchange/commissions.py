"""Commissions as they really were: from the account's trades when the order query has
none (Binance's), and a commission paid in a third asset (BNB) valued in the quote."""

from __future__ import annotations

import logging
from decimal import Decimal

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.money import ZERO
from tradebot_tui.core.orders import (
    OrderIntent,
)
from tradebot_tui.exchange.client import ExchangeClient
from tradebot_tui.exchange.order_tracker import OrderTracker
from tradebot_tui.exchange.reports import (
    ExchangeOrder,
    FeePaid,
    parse_price,
    parse_trade,
)
from tradebot_tui.exchange.resilience import Priority

log = logging.getLogger("tradebot.broker")


class Commissions:
    """Completes an order's fees before its fills are applied."""

    def __init__(self, client: ExchangeClient, *, wait_s: float = 30.0) -> None:
        """Args:
        wait_s: How long the trades of an order that is over are waited for when the
            trade list lags it, before its commissions are estimated.
        """
        self.client = client
        self.wait_s = wait_s

    async def complete(
        self, intent: OrderIntent, tracker: OrderTracker, order: ExchangeOrder
    ) -> ExchangeOrder:
        """`order`, with its commissions from the account's trades when it has none.

        Binance's order query reports no fees; its trade list does, in the asset they were
        charged in (the base asset on buys), which decides how much actually arrived. A
        commission in a third asset is priced in the quote.

        The trade list lags on its own ("Memory => Database", as the order query): an
        order still open is applied with an estimate, made exact with its next fill; an
        order that is over has no next fill, so its trades are waited for (back-off from
        0.1 s, up to `wait_s`) and only then, if still missing, estimated and said so.
        """
        if order.filled <= tracker.filled:
            return order
        if not order.fees:
            order = await self._trade_fees(intent, order)
            if not order.fees and order.status.terminal:
                order = await self._wait_for_trades(intent, order)
        await self._price_fees(tracker, order)
        return order

    async def _wait_for_trades(self, intent: OrderIntent, order: ExchangeOrder) -> ExchangeOrder:
        deadline = trio.current_time() + self.wait_s
        delay = 0.1
        while not order.fees and trio.current_time() < deadline:
            await trio.sleep(min(delay, max(0.0, deadline - trio.current_time())))
            delay = min(delay * 2, 2.0)
            order = await self._trade_fees(intent, order)
        if not order.fees:
            log.warning(
                "%s: its trades are not in the trade list after %.0f s; its commission is "
                "estimated at the fee rate",
                intent.client_id,
                self.wait_s,
            )
        return order

    async def _trade_fees(self, intent: OrderIntent, order: ExchangeOrder) -> ExchangeOrder:
        """`order` with the commissions its trades report (unchanged when they lag)."""
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

    async def _price_fees(self, tracker: OrderTracker, order: ExchangeOrder) -> None:
        """Value commissions paid in a third asset (BNB) at its last price in the quote.

        Without a price (no such market, or the call fails) the commission is estimated at
        the fee rate; either way it is counted as paid outside the quote balance.
        """
        for fee in order.fees:
            currency = fee.currency
            if currency in (tracker.base, tracker.quote) or currency in tracker.rates:
                continue
            symbol = self.market_symbol(currency, tracker.quote)
            if symbol is None:
                log.warning(
                    "%s: commission in %s, which has no %s market; its value is estimated",
                    tracker.intent.client_id,
                    currency,
                    tracker.quote,
                )
                continue
            try:
                tracker.rates[currency] = await self.price(symbol)
            except trio.Cancelled:
                raise
            except Exception as exc:
                log.warning(
                    "%s: no %s price (%s); the commission's value is estimated",
                    tracker.intent.client_id,
                    symbol,
                    error_text(exc),
                )

    def market_symbol(self, base: str, quote: str) -> str | None:
        """`BASE/QUOTE` when the exchange lists that spot market (markets are loaded)."""
        symbol = f"{base}/{quote}"
        return symbol if symbol in (self.client.exchange.markets or {}) else None

    async def price(self, symbol: str) -> Decimal:
        """The last traded price of `symbol`."""
        ticker = await self.client.call("fetch_ticker", symbol, priority=Priority.QUERY)
        return parse_price(ticker, symbol)
