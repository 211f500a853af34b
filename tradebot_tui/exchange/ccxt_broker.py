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
from collections.abc import Callable, Sequence
from decimal import Decimal

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.orders import (
    BrokerEvent,
    Fill,
    OrderClosed,
    OrderIntent,
    OrderKind,
    OrderStatus,
    OutcomeUnknown,
    Purpose,
    Side,
)
from tradebot_tui.exchange import crashpoints
from tradebot_tui.exchange.base import Emit
from tradebot_tui.exchange.client import CircuitOpen, ExchangeClient
from tradebot_tui.exchange.commissions import Commissions
from tradebot_tui.exchange.dust_convert import DustConverter
from tradebot_tui.exchange.errors import ErrorKind, classify
from tradebot_tui.exchange.order_lists import OrderLists
from tradebot_tui.exchange.order_lookup import OrderLookup, OrderUnknown
from tradebot_tui.exchange.order_tracker import OrderTracker
from tradebot_tui.exchange.reports import (
    Balance,
    ExchangeOrder,
    ExchangeTrade,
    MalformedReport,
    parse_balances,
    parse_order,
    parse_price,
)
from tradebot_tui.exchange.resilience import Priority, backoff_s
from tradebot_tui.exchange.user_stream import PushedOrder, PushedOrders, UserStream

log = logging.getLogger("tradebot.broker")


def wall_ms() -> int:
    return int(time.time() * 1000)


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
        pushed: PushedOrders | None = None,
        stream_poll_s: float = 15.0,
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
            pushed: Order states pushed by the user data stream (`exchange.user_stream`):
                an open order's new state is taken from there as soon as it comes.
            stream_poll_s: Longest interval between two looks while the stream is up.
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
        self.pushed = pushed
        self.stream_poll_s = stream_poll_s
        # The service that feeds `pushed` (the engine runs it with its others).
        self.user_stream: UserStream | None = None
        self.lookup = OrderLookup(client, rules)
        self.commissions = Commissions(client, wait_s=settle_s)
        self.dust = DustConverter(
            client, settle_s=settle_s, poll_s=poll_s, max_poll_s=max_poll_s, clock_ms=clock_ms
        )
        # Order lists (`exits.on_exchange`): a position's exits resting on the exchange.
        self.lists = OrderLists(client, settle_s=settle_s, poll_s=poll_s, max_poll_s=max_poll_s)

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
        return await self.lookup.recent_orders(symbol, since_ms)

    async def recent_trades(self, symbol: str, since_ms: int) -> list[ExchangeTrade]:
        """The account's executions of `symbol` since `since_ms`."""
        return await self.lookup.recent_trades(symbol, since_ms)

    def market_symbol(self, base: str, quote: str) -> str | None:
        """`BASE/QUOTE` when the exchange lists that spot market (markets are loaded)."""
        return self.commissions.market_symbol(base, quote)

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
            order = await self.lookup.by_client_id(intent, Priority.CANCEL)
            if order is not None and order.status.terminal:
                return  # over already
            if order is None and trio.current_time() >= deadline:
                return  # not on the exchange at all: nothing to cancel
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_poll_s)

    # -- following orders ------------------------------------------------------------------

    async def follow(self, intent: OrderIntent, emit: Emit) -> None:
        """Send `intent` (once) and follow it until it is over."""
        tracker = OrderTracker(intent, emit, self.fee_rate)
        order = await self._place(intent, tracker, self._clock_ms())
        if order is not None:
            await self._until_done(intent, tracker, order)

    @property
    def on_credit(self) -> Callable[[str, Decimal], None] | None:
        """Told what each conversion of dust credited (the engine's reconciliation)."""
        return self.dust.on_credit

    @on_credit.setter
    def on_credit(self, tell: Callable[[str, Decimal], None] | None) -> None:
        self.dust.on_credit = tell

    async def convert_dust(self, intents: Sequence[OrderIntent], emit: Emit) -> None:
        """Convert the dust of `intents` to BNB in one request (`exchange.dust_convert`)."""
        await self.dust.convert(intents, emit)

    async def recover(
        self, intent: OrderIntent, emit: Emit, known: list[Fill], journaled_ms: int
    ) -> None:
        """An order the journal left open at a restart: found and followed from the fills
        the journal holds, or shown absent by the exchange and closed as never placed."""
        if intent.kind is OrderKind.DUST_CONVERT:
            if known:  # its conversion was booked before the restart: only its end was not
                emit(OrderClosed(intent.client_id, OrderStatus.FILLED, journaled_ms, "converted"))
                return
            await self.dust.recover(intent, emit, journaled_ms)
            return
        tracker = OrderTracker(intent, emit, self.fee_rate)
        tracker.resume(known)
        try:
            order = await self.lookup.by_client_id(intent, Priority.QUERY)
        except OrderUnknown:
            order = None  # the exchange could not be asked: the settling asks again
        if order is None:
            order = await self._settle(
                intent, tracker, journaled_ms, "open in the journal at the restart"
            )
        elif not self.lookup.adoptable(intent, tracker, order, journaled_ms):
            return
        if order is not None:
            await self._until_done(intent, tracker, order)

    async def _place(
        self, intent: OrderIntent, tracker: OrderTracker, sent_ms: int
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
            if not self.lookup.adoptable(intent, tracker, order, sent_ms):
                return None
            return order
        tracker.close(OrderStatus.FAILED, "not placed: the exchange kept rate-limiting it")
        return None

    async def _settle(
        self, intent: OrderIntent, tracker: OrderTracker, sent_ms: int, why: str
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
            pushed = self._pushed_order(intent)
            if pushed is not None:  # the stream saw it: it exists, whatever REST says yet
                return pushed if self.lookup.adoptable(intent, tracker, pushed, sent_ms) else None
            try:
                order = await self.lookup.by_client_id(intent, Priority.QUERY)
            except OrderUnknown as exc:  # the exchange could not be asked: ask again
                log.warning("%s: %s", cid, exc)
                answered = False
            else:
                if order is not None:
                    return order if self.lookup.adoptable(intent, tracker, order, sent_ms) else None
                answered = True
            if answered and trio.current_time() >= deadline:
                break
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_poll_s)
        order = await self.lookup.search_account(intent, sent_ms)
        if order is not None:
            return order if self.lookup.adoptable(intent, tracker, order, sent_ms) else None
        log.warning(
            "%s was never placed: not found by its id for %.0f s, nor among the account's "
            "orders and trades since it was sent",
            cid,
            self.settle_s,
        )
        tracker.close(OrderStatus.FAILED, "not placed: the exchange shows no such order")
        return None

    def _pushed_order(self, intent: OrderIntent) -> ExchangeOrder | None:
        """The last state of `intent`'s order the user data stream pushed, if any: the
        exchange's word as much as a REST answer (its commissions, when the stream did not
        carry them whole, are read from the trade list by `Commissions`)."""
        if self.pushed is None:
            return None
        got = self.pushed.latest(intent.client_id)
        return self._as_order(intent, got[1]) if got is not None else None

    def _as_order(self, intent: OrderIntent, state: PushedOrder) -> ExchangeOrder | None:
        assert self.pushed is not None
        return state.order_of(intent, self.pushed.fees(state))

    async def _until_done(
        self, intent: OrderIntent, tracker: OrderTracker, order: ExchangeOrder
    ) -> None:
        """Follow an order until it is over; cancel it after `order_timeout_s`.

        A query that does not find it (Binance's lags) is asked again; an order unseen for
        `settle_s` after it was seen is lost (OrderUnknown).
        """
        started = last_seen = trio.current_time()
        cancelled_at: float | None = None
        delay = self.poll_s
        version = 0  # of the last state the stream pushed that was used
        while not tracker.apply(await self.commissions.complete(intent, tracker, order)):
            now = trio.current_time()
            if cancelled_at is None and now - started >= self.order_timeout_s:
                await self._cancel_open(intent)
                cancelled_at, delay = now, self.poll_s
            elif cancelled_at is not None and now - cancelled_at > self.settle_s:
                raise OrderUnknown(f"{intent.client_id} still open after cancelling it")
            if self.pushed is not None:
                # A state the stream pushed (even before the order's REST answer) is used
                # at once; else the order is looked up after `delay`, as without one.
                got = await self.pushed.wait(intent.client_id, version, delay)
                limit = self.stream_poll_s if self.pushed.up else self.max_poll_s
                if got is not None:
                    version, state = got
                    found = self._as_order(intent, state)
                    if found is not None:
                        last_seen, order = trio.current_time(), found
                        continue
            else:
                await trio.sleep(delay)
                limit = self.max_poll_s
            delay = min(delay * 1.5, limit)
            priority = Priority.QUERY if cancelled_at is None else Priority.CANCEL
            found = await self.lookup.by_client_id(intent, priority)
            if found is None:
                if trio.current_time() - last_seen > self.settle_s:
                    raise OrderUnknown(f"{intent.client_id} vanished from the exchange")
                continue
            last_seen = trio.current_time()
            order = found

    async def _cancel_open(self, intent: OrderIntent) -> None:
        try:
            await self.cancel(intent)
        except trio.Cancelled:
            raise
        except Exception as exc:
            raise OrderUnknown(f"cancelling {intent.client_id}: {error_text(exc)}") from exc


_RNG = random.Random()
