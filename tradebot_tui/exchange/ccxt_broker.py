"""The live broker: real orders through ccxt, each sent once, followed to its end by client id.

No order is ever sent twice. Each intent is sent exactly once, under a client id unique
for the account (core.orders.client_order_id). When the answer is lost (a timeout, a 5xx,
Binance's -1007, a dropped connection, an answer that cannot be read, "Duplicate order
sent"), the order's fate is unknown and nothing more is sent for it: it is looked up by
its client id with back-off for `settle_s` (Binance's order query lags its order entry),
then searched among the account's orders and trades since the intent. Found, it is taken
as ours only if it matches the intent (symbol, side, amount within a step, created after
the intent was journaled); anything else is reported as unexplained, with both figures.
Not found anywhere, the intent fails and the strategy decides anew, under a new id.

Only a refusal that Binance documents as "nothing was done" is retried with the same id:
429/418 after their Retry-After, and -1021 (timestamp) after the clock was measured again.

Fills are derived from the order's cumulative filled amount and cost, so a fill is never
counted twice either. There is no withdrawal, transfer or any other call that moves funds
off the exchange anywhere in this module.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from decimal import Decimal, localcontext

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import DIVISION, EXACT, ZERO, fmt_decimal
from tradebot_tui.core.orders import (
    BrokerEvent,
    Fill,
    OrderClosed,
    OrderIntent,
    OrderStatus,
    OutcomeUnknown,
    Purpose,
    Side,
    Unexplained,
)
from tradebot_tui.exchange import crashpoints
from tradebot_tui.exchange.base import Emit
from tradebot_tui.exchange.client import CircuitOpen, ExchangeClient
from tradebot_tui.exchange.errors import ErrorKind, classify
from tradebot_tui.exchange.reports import (
    Balance,
    ExchangeOrder,
    ExchangeTrade,
    FeePaid,
    MalformedReport,
    parse_balances,
    parse_order,
    parse_price,
    parse_trade,
)
from tradebot_tui.exchange.resilience import Priority, backoff_s

log = logging.getLogger("tradebot.broker")

# How far the exchange's creation time of an order may precede the intent's journaling
# time (ms) and still be ours: the two clocks are compared through the measured offset.
CREATED_SLACK_MS = 2_000
# Orders and trades asked for per symbol when the account is searched.
ACCOUNT_LIMIT = 1000


def wall_ms() -> int:
    return int(time.time() * 1000)


class OrderUnknown(Exception):
    """The order's fate could not be established (the symbol is put in error)."""


class CcxtBroker:
    """Market (or limit) orders on a real exchange, sent once and followed until they end."""

    name = "live"
    immediate = False

    def __init__(
        self,
        client: ExchangeClient,
        fee_rate: Decimal,
        *,
        rules: Callable[[str], MarketRules | None] = lambda symbol: None,
        order_type: str = "market",
        poll_s: float = 0.5,
        max_poll_s: float = 5.0,
        order_timeout_s: float = 60.0,
        settle_s: float = 30.0,
        place_attempts: int = 5,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        """Create the broker.

        Args:
            client: The exchange connection (budget, breaker, retries).
            fee_rate: The fee rate used where the exchange reports none.
            rules: The market rules of a symbol (its quantity step decides adoption).
            order_type: "market", or "limit" at the intent's price (GTC).
            poll_s: First interval between two looks at an open order.
            max_poll_s: Longest interval between two looks.
            order_timeout_s: An order still open this long is cancelled.
            settle_s: How long an order whose answer was lost is looked up by id before
                the account's orders and trades are searched (Binance's order query lags).
            place_attempts: Sends of one order refused by a rate limit, at most.
            clock_ms: The wall clock (ms), to stamp when an order was sent.
        """
        self.client = client
        self.fee_rate = fee_rate
        self.rules = rules
        self.order_type = order_type
        self.poll_s = poll_s
        self.max_poll_s = max_poll_s
        self.order_timeout_s = order_timeout_s
        self.settle_s = settle_s
        self.place_attempts = place_attempts
        self._clock_ms = clock_ms

    def execute(self, intent: OrderIntent) -> list[BrokerEvent]:
        raise NotImplementedError("CcxtBroker places orders asynchronously; use follow()")

    # -- the account ---------------------------------------------------------------------

    async def balances(self) -> dict[str, Balance]:
        """Free and locked amount of every asset the account holds."""
        return parse_balances(await self.client.call("fetch_balance", priority=Priority.QUERY))

    async def price(self, symbol: str) -> Decimal:
        """The last traded price of `symbol` (to value an order that has none)."""
        ticker = await self.client.call("fetch_ticker", symbol, priority=Priority.QUERY)
        return parse_price(ticker, symbol)

    async def open_orders(self, prefix: str) -> list[ExchangeOrder]:
        """Open orders on the exchange whose client id starts with `prefix`."""
        orders = await self.client.call("fetch_open_orders", priority=Priority.QUERY)
        return [o for o in map(parse_order, orders) if o.client_id.startswith(prefix)]

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

    def market_symbol(self, base: str, quote: str) -> str | None:
        """`BASE/QUOTE` when the exchange lists that spot market (markets are loaded)."""
        symbol = f"{base}/{quote}"
        return symbol if symbol in (self.client.exchange.markets or {}) else None

    async def cancel(self, intent: OrderIntent) -> None:
        """Ask the exchange to cancel by client id (its follower sees the result).

        Binance answers "Unknown order sent." for an order its query does not show yet,
        so that answer is checked: an order that is over is no error; one not shown yet
        is asked again for up to `settle_s`.

        Raises:
            Exception: the exchange's error when the cancel did not go through.
        """
        deadline = trio.current_time() + self.settle_s
        delay = self.poll_s
        while True:
            try:
                await self.client.call(
                    "cancel_order",
                    None,
                    intent.symbol,
                    {"origClientOrderId": intent.client_id},
                    priority=Priority.CANCEL,
                )
                return
            except trio.Cancelled:
                raise
            except Exception as exc:
                if classify(exc) is not ErrorKind.NOT_FOUND:
                    raise
            order = await self._lookup(intent, Priority.CANCEL)
            if order is not None and order.status.terminal:
                return  # over already
            if order is None and trio.current_time() >= deadline:
                return  # not on the exchange at all: nothing to cancel
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_poll_s)

    # -- following orders ------------------------------------------------------------------

    async def follow(self, intent: OrderIntent, emit: Emit) -> None:
        """Send `intent` (once) and follow it until it is over."""
        tracker = _Tracker(intent, emit, self.fee_rate)
        order = await self._place(intent, tracker, self._clock_ms())
        if order is not None:
            await self._until_done(intent, tracker, order)

    async def recover(
        self, intent: OrderIntent, emit: Emit, known: list[Fill], journaled_ms: int
    ) -> None:
        """An order the journal left open at a restart: found and followed from the fills
        the journal holds, or shown absent by the exchange and closed as never placed."""
        tracker = _Tracker(intent, emit, self.fee_rate)
        tracker.resume(known)
        try:
            order = await self._lookup(intent, Priority.QUERY)
        except OrderUnknown:
            order = None  # the exchange could not be asked: the settling asks again
        if order is None:
            order = await self._settle(
                intent, tracker, journaled_ms, "open in the journal at the restart"
            )
        elif not self._adoptable(intent, tracker, order, journaled_ms):
            return
        if order is not None:
            await self._until_done(intent, tracker, order)

    async def _place(
        self, intent: OrderIntent, tracker: _Tracker, sent_ms: int
    ) -> ExchangeOrder | None:
        priority = Priority.ENTRY if intent.purpose is Purpose.ENTRY else Priority.EXIT
        side = "buy" if intent.side is Side.BUY else "sell"
        price = float(intent.price) if self.order_type == "limit" else None
        params = {"newClientOrderId": intent.client_id}
        for attempt in range(self.place_attempts):
            try:
                raw = await self.client.call(
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
            except CircuitOpen as exc:  # refused here: nothing was sent
                tracker.close(OrderStatus.REJECTED, str(exc))
                return None
            except trio.Cancelled:
                raise
            except Exception as exc:
                kind = classify(exc)
                message = error_text(exc, 400)
                if kind is ErrorKind.RATE_LIMITED:  # rejected for now: nothing was done
                    delay = max(self.client.budget.paused_for, backoff_s(attempt, 0.5, 5, _RNG))
                    log.warning("%s: %s; sent again in %.1f s", intent.client_id, message, delay)
                    await trio.sleep(delay)
                    continue
                if kind in (ErrorKind.REFUSED, ErrorKind.CLOCK):
                    log.error("%s %s refused: %s", side, intent.symbol, message)
                    tracker.close(OrderStatus.REJECTED, message)
                    return None
                return await self._settle(intent, tracker, sent_ms, message)
            crashpoints.reached("sent")
            try:
                order = parse_order(raw)
            except MalformedReport as exc:
                return await self._settle(intent, tracker, sent_ms, f"unreadable answer ({exc})")
            if not self._adoptable(intent, tracker, order, sent_ms):
                return None
            return order
        tracker.close(OrderStatus.FAILED, "not placed: the exchange kept rate-limiting it")
        return None

    async def _settle(
        self, intent: OrderIntent, tracker: _Tracker, sent_ms: int, why: str
    ) -> ExchangeOrder | None:
        """Find out whether an order whose answer was lost exists; never send it again.

        Looked up by client id with back-off for `settle_s`, then searched among the
        account's orders and trades since it was sent. Until the exchange has answered,
        the lookups go on (the symbol shows "order status unknown").

        Returns:
            The order, verified to be this intent's; None when the intent was closed
            (absent: never placed; or unexplained).

        Raises:
            OrderUnknown: the account shows executions nothing explains.
        """
        cid = intent.client_id
        log.warning(
            "%s (%s %s): %s; its outcome is unknown: nothing is sent for %s until the exchange "
            "shows whether it exists",
            cid,
            intent.side.value,
            intent.symbol,
            why,
            intent.symbol,
        )
        tracker.emit(OutcomeUnknown(cid, why))
        deadline = trio.current_time() + self.settle_s
        delay = self.poll_s
        while True:
            try:
                order = await self._lookup(intent, Priority.QUERY)
            except OrderUnknown as exc:  # the exchange could not be asked: ask again
                log.warning("%s: %s", cid, exc)
                answered = False
            else:
                if order is not None:
                    return order if self._adoptable(intent, tracker, order, sent_ms) else None
                answered = True
            if answered and trio.current_time() >= deadline:
                break
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_poll_s)
        order = await self._search_account(intent, sent_ms)
        if order is not None:
            return order if self._adoptable(intent, tracker, order, sent_ms) else None
        log.warning(
            "%s was never placed: not found by its id for %.0f s, nor among the account's "
            "orders and trades since it was sent",
            cid,
            self.settle_s,
        )
        tracker.close(OrderStatus.FAILED, "not placed: the exchange shows no such order")
        return None

    async def _search_account(self, intent: OrderIntent, sent_ms: int) -> ExchangeOrder | None:
        """The account's orders and trades of the symbol since the intent was sent.

        Raises:
            OrderUnknown: the account could not be read, or shows executions of orders it
                does not list (nothing may be guessed).
        """
        since = self._exchange_ms(sent_ms) - 60_000
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

    def _adoptable(
        self, intent: OrderIntent, tracker: _Tracker, order: ExchangeOrder, sent_ms: int
    ) -> bool:
        """Whether `order`, found under the intent's client id, is the intent's.

        It must be of the same symbol and side, for the amount within one quantity step,
        and created after the intent was journaled. Otherwise the intent fails and the
        symbol is held, both figures told.
        """
        rules = self.rules(intent.symbol)
        step = rules.qty_step if rules is not None else Decimal("0.00000001")
        created = order.created_ms
        not_before = self._exchange_ms(sent_ms) - CREATED_SLACK_MS
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
            f"{_stamp(self._exchange_ms(sent_ms))}"
        )
        message = (
            f"{intent.client_id} on the exchange is not this intent ({', '.join(problems)}): "
            f"the exchange has {theirs}; the intent was {ours}"
        )
        log.error("%s; entries for %s stop until you have looked", message, intent.symbol)
        tracker.emit(Unexplained(intent.client_id, message))
        tracker.close(OrderStatus.FAILED, message)
        return False

    def _exchange_ms(self, local_ms: int) -> int:
        """Our wall-clock time as the exchange's clock reads it."""
        return local_ms - (self.client.clock_offset_ms or 0)

    async def _until_done(
        self, intent: OrderIntent, tracker: _Tracker, order: ExchangeOrder
    ) -> None:
        """Follow an order until it is over; cancel it after `order_timeout_s`.

        A query that does not find it (Binance's lags) is asked again; an order unseen for
        `settle_s` after it was seen is lost (OrderUnknown).
        """
        started = last_seen = trio.current_time()
        cancelled_at: float | None = None
        delay = self.poll_s
        while not tracker.apply(await self._with_fees(intent, tracker, order)):
            now = trio.current_time()
            if cancelled_at is None and now - started >= self.order_timeout_s:
                await self._cancel_open(intent)
                cancelled_at, delay = now, self.poll_s
            elif cancelled_at is not None and now - cancelled_at > self.settle_s:
                raise OrderUnknown(f"{intent.client_id} still open after cancelling it")
            await trio.sleep(delay)
            delay = min(delay * 1.5, self.max_poll_s)
            priority = Priority.QUERY if cancelled_at is None else Priority.CANCEL
            found = await self._lookup(intent, priority)
            if found is None:
                if trio.current_time() - last_seen > self.settle_s:
                    raise OrderUnknown(f"{intent.client_id} vanished from the exchange")
                continue
            last_seen = trio.current_time()
            order = found

    async def _with_fees(
        self, intent: OrderIntent, tracker: _Tracker, order: ExchangeOrder
    ) -> ExchangeOrder:
        """`order`, with its commissions from the account's trades when it has none.

        Binance's order query reports no fees; its trade list does, in the asset they were
        charged in (the base asset on buys), which decides how much actually arrived. A
        commission in a third asset is priced in the quote.
        """
        if order.filled <= tracker.filled:
            return order
        if not order.fees:
            order = await self._trade_fees(intent, order)
        await self._price_fees(tracker, order)
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

    async def _price_fees(self, tracker: _Tracker, order: ExchangeOrder) -> None:
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

    async def _lookup(self, intent: OrderIntent, priority: Priority) -> ExchangeOrder | None:
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

    async def _cancel_open(self, intent: OrderIntent) -> None:
        try:
            await self.cancel(intent)
        except trio.Cancelled:
            raise
        except Exception as exc:
            raise OrderUnknown(f"cancelling {intent.client_id}: {error_text(exc)}") from exc


def _stamp(ms: int | None) -> str:
    if ms is None:
        return "an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d} UTC"


_RNG = random.Random()


class _Tracker:
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
