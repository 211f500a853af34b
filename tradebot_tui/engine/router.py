"""The order router: intent, journal, send, follow, apply, for every order the engine places.

An intent from the trader is remembered (the orders screen lists it), written to the
journal and only then sent. A broker that fills at once (paper, replay) returns its
events; any other broker is followed by a task of its own until the order is over. What
the broker reports is applied to the trader and journaled in the order it happened.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from functools import partial

import trio

from tradebot_tui.core.book import Trade
from tradebot_tui.core.display import price_decimals
from tradebot_tui.core.errors import error_text
from tradebot_tui.core.gate import CoinHold
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import DIVISION, EXACT, ZERO, fmt_decimal
from tradebot_tui.core.orders import (
    BrokerEvent,
    Fill,
    OrderClosed,
    OrderIntent,
    OrderKind,
    OrderStatus,
    OutcomeUnknown,
    Purpose,
    Unexplained,
)
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.context import Context
from tradebot_tui.engine.wording import NoticeText
from tradebot_tui.exchange import crashpoints
from tradebot_tui.exchange.base import Broker, ConvertsDust, ExchangeBroker
from tradebot_tui.journal.store import JournalError
from tradebot_tui.journal.writer import JournalWriter

log = logging.getLogger("tradebot.engine")

ORDER_HISTORY = 200


@dataclass(slots=True)
class OrderRecord:
    """One order as the orders screen shows it: the intent and what became of it."""

    intent: OrderIntent
    status: OrderStatus = OrderStatus.PENDING
    filled: Decimal = ZERO
    value: Decimal = ZERO
    fee: Decimal = ZERO
    message: str = ""
    # The fills applied so far (to settle the order again without counting one twice),
    # and when its intent was journaled (wall clock, ms).
    fills: list[Fill] = field(default_factory=list)
    journaled_ms: int = 0
    sent: float = 0.0  # monotonic time it was sent, until the broker's first answer

    @property
    def avg_price(self) -> Decimal | None:
        if not self.filled:
            return None
        with localcontext(DIVISION):
            return self.value / self.filled


class OrderRouter:
    """Places the trader's orders and applies what the broker reports."""

    def __init__(
        self,
        trader: Trader,
        broker: Broker,
        context: Context,
        *,
        account: ExchangeBroker | None,
        journal: JournalWriter | None,
        rules: Callable[[str], MarketRules],
        quote: str,
        grace_s: float,
        on_trade: Callable[[Trade], None],
        on_journal_down: Callable[[str], None],
    ) -> None:
        self._trader = trader
        self._broker = broker
        self._account = account
        self._journal = journal
        self._rules = rules
        self._quote = quote
        self._grace_s = grace_s
        self._notice = context.notice
        self._on_trade = on_trade
        self._on_journal_down = on_journal_down
        self._changed = context.changed
        self._records: dict[str, OrderRecord] = {}
        self._ids: deque[str] = deque()
        self._scopes: dict[str, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self.closing = False
        # Symbols whose next closed trade is news for the owner even when sold by hand
        # (asked from away, or by the kill switch): not the answer to a key pressed here.
        self._news: set[str] = set()
        # For the metrics: fills and rejected or failed orders so far, and the seconds
        # from sending an order to the broker's first answer (the metrics drain it).
        self.fill_count = 0
        self.reject_count = 0
        self.placements: deque[float] = deque(maxlen=1000)

    def attach(self, nursery: trio.Nursery) -> None:
        """The nursery that order followers run in (the engine's)."""
        self._nursery = nursery

    # -- reading ---------------------------------------------------------------------------

    @property
    def following(self) -> int:
        """Orders being followed on the broker right now."""
        return len(self._scopes)

    def record(self, client_id: str) -> OrderRecord | None:
        return self._records.get(client_id)

    def recent(self) -> Iterator[OrderRecord]:
        """The remembered orders, newest first."""
        for cid in reversed(self._ids):
            yield self._records[cid]

    def remember(self, intent: OrderIntent, *, journaled_ms: int = 0) -> None:
        """Keep the order for the orders screen (the last ORDER_HISTORY that are over, and
        every one still open)."""
        self._records[intent.client_id] = OrderRecord(intent, journaled_ms=journaled_ms)
        self._ids.append(intent.client_id)
        if len(self._ids) > ORDER_HISTORY:
            for cid in list(self._ids):
                if len(self._ids) <= ORDER_HISTORY:
                    break
                if self._records[cid].status.terminal:
                    self._ids.remove(cid)
                    del self._records[cid]

    def report_trade_of(self, symbol: str) -> None:
        """The next trade `symbol` closes is reported to the owner, whatever its reason."""
        self._news.add(symbol)

    # -- placing ---------------------------------------------------------------------------

    async def execute(self, intent: OrderIntent) -> None:
        """Place `intent`: journal it, send it, and follow it (or apply its fills at once)."""
        if not await self._journal_first(intent):
            return
        broker = self._broker
        self._records[intent.client_id].sent = time.monotonic()
        if broker.immediate:
            try:
                events = broker.execute(intent)
            except Exception as exc:  # the broker failed: the order did not happen
                log.error("%s %s failed: %s", intent.side.value, intent.symbol, exc)
                events = [OrderClosed(intent.client_id, OrderStatus.FAILED, intent.ts_ms, str(exc))]
            for event in events:
                self.apply(event)
            return
        self.follow(intent)

    async def adopt(self, intent: OrderIntent, journaled_ms: int) -> None:
        """Follow an order the exchange made for us, never sent by us: a leg of an order
        list that executed (`engine/protector.py`). Journaled as adopted and stamped with
        when its list was journaled (the order on the exchange is ours only if created
        after that), then looked up by its id and followed to its end."""
        self.remember(intent, journaled_ms=journaled_ms)
        decimals = price_decimals(self._rules(intent.symbol), float(intent.price))
        log.info(
            wording.intent_line(intent, decimals), extra={"fields": {"order": intent.client_id}}
        )
        if self._journal is not None:
            try:
                await self._journal.intent(intent, adopted=True, journaled_ms=journaled_ms)
            except JournalError as exc:
                # It happened on the exchange whatever the journal says: followed anyway.
                log.error("%s not journaled: %s; new entries paused", intent.client_id, exc)
                self._on_journal_down(str(exc))
        crashpoints.reached("leg_adopted")
        self.follow(intent, ([], journaled_ms))

    async def convert_dust(self, intents: list[OrderIntent]) -> None:
        """Place the conversions of a dust sweep (`core.sweep`): each journaled first,
        then one request for them all on a broker that converts on the exchange; on any
        other (paper) each is an order of its own."""
        broker = self._broker
        if not isinstance(broker, ConvertsDust):
            for intent in intents:
                await self.execute(intent)
            return
        ready = [intent for intent in intents if await self._journal_first(intent)]
        if ready:
            assert self._nursery is not None, "the router is not attached to a nursery"
            work = partial(broker.convert_dust, ready, self.apply)
            self._nursery.start_soon(self._follow, ready, work)

    async def _journal_first(self, intent: OrderIntent) -> bool:
        """Remember, log and journal `intent`; True when it may be sent (else it is
        closed as not sent)."""
        self.remember(intent)
        decimals = price_decimals(self._rules(intent.symbol), float(intent.price))
        log.info(
            wording.intent_line(intent, decimals), extra={"fields": {"order": intent.client_id}}
        )
        broker = self._broker
        if self.closing and not broker.immediate:
            self._not_sent(intent, "not sent: shutting down")
            return False
        if self._journal is not None:
            try:
                await self._journal.intent(intent)
                self._records[intent.client_id].journaled_ms = int(time.time() * 1000)
                crashpoints.reached("journaled")
            except JournalError as exc:
                # Not on disk, so not sent: the order fails, entries stop.
                log.error("%s not sent: %s; new entries paused", intent.client_id, exc)
                self._on_journal_down(str(exc))
                self._not_sent(intent, f"not sent: {exc}")
                return False
            if self.closing and not broker.immediate:  # shutdown began during the write
                self._not_sent(intent, "not sent: shutting down")
                return False
        return True

    def _not_sent(self, intent: OrderIntent, why: str) -> None:
        log.warning("%s %s", intent.client_id, why)
        self.apply(OrderClosed(intent.client_id, OrderStatus.FAILED, intent.ts_ms, why))

    def follow(self, intent: OrderIntent, resume: tuple[list[Fill], int] | None = None) -> None:
        """Follow `intent` on the broker in a task of its own.

        Args:
            intent: The order.
            resume: For an order the journal left open at a restart: its journaled fills
                and when it was journaled. It is settled with the exchange, never sent.
        """
        assert self._nursery is not None, "the router is not attached to a nursery"
        if resume is None:
            work = partial(self._broker.follow, intent, self.apply)
        else:
            assert self._account is not None
            work = partial(self._account.recover, intent, self.apply, *resume)
        self._nursery.start_soon(self._follow, [intent], work)

    async def _follow(
        self, intents: list[OrderIntent], work: Callable[[], Awaitable[None]]
    ) -> None:
        """`work` on a real (or latency-simulating) broker: following one order until it
        is over, or one conversion request for several.

        Shielded: quitting does not cut it off mid-way; the shutdown gives it
        `exchange.shutdown_grace_s` to finish, then cancels it (its journal rows stay open
        and the next start resumes them). When it fails, the orders it leaves open are
        in doubt: their symbols are blocked until recovered.
        """
        scope = trio.CancelScope(shield=True)
        for intent in intents:
            self._scopes[intent.client_id] = scope
        if self.closing:
            scope.deadline = trio.current_time() + self._grace_s
        try:
            with scope:
                await work()
            if scope.cancelled_caught:
                for intent in intents:
                    log.warning(
                        "%s still open at shutdown; the next start resumes it", intent.client_id
                    )
        except trio.Cancelled:
            raise
        except Exception as exc:
            for intent in intents:
                record = self._records.get(intent.client_id)
                if record is not None and record.status.terminal:
                    continue
                log.error(
                    "order %s (%s %s): %s; %s blocked until recovered",
                    intent.client_id,
                    intent.side.value,
                    intent.symbol,
                    error_text(exc),
                    intent.symbol,
                )
                self._trader.fault(intent.symbol, error_text(exc))
        finally:
            for intent in intents:
                self._scopes.pop(intent.client_id, None)
            self._changed()

    async def shut_down(self, *, cancel_entries: bool) -> None:
        """Send nothing new from now on; orders in flight get the grace period to finish.

        Args:
            cancel_entries: Also cancel the open entry orders on the exchange, within the
                grace period (the `cancel_entries` shutdown policy).
        """
        self.closing = True
        deadline = trio.current_time() + self._grace_s
        for scope in self._scopes.values():
            scope.deadline = min(scope.deadline, deadline)
        if not cancel_entries or self._account is None:
            return
        entries = [o for o in self._trader.open_orders() if o.purpose is Purpose.ENTRY]
        with trio.move_on_at(deadline):
            for intent in entries:
                log.info("shutdown: cancelling open entry %s", intent.client_id)
                try:
                    await self._account.cancel(intent)
                except trio.Cancelled:
                    raise
                except Exception as exc:
                    log.error("shutdown: cancel %s failed: %s", intent.client_id, error_text(exc))

    # -- what the broker reports -------------------------------------------------------------

    def apply(self, event: BrokerEvent, *, journal: bool = True) -> None:
        """Apply a fill or a closure to the trader, the order's record and the journal.

        `journal=False` replays what the journal already holds (restart recovery): nothing
        is written, logged or noticed again.
        """
        record = self._records.get(event.client_id)
        writer = self._journal if journal else None
        if record is not None and record.sent:
            self.placements.append(time.monotonic() - record.sent)
            record.sent = 0.0
        if isinstance(event, OutcomeUnknown):
            self._trader.on_unknown(event)
            if record is not None:
                record.message = f"outcome unknown: {event.message}"
            if writer is not None:
                writer.event("unknown", f"{event.client_id}: {event.message}")
            self._changed()
            return
        if isinstance(event, Unexplained):
            self._trader.on_unexplained(event)
            symbol = record.intent.symbol if record is not None else ""
            if writer is not None:
                writer.event("unexplained", event.message, symbol or None)
            self._notice(wording.unexplained_notice(symbol, event.message))
            return
        if isinstance(event, Fill):
            self.fill_count += journal
            self._trader.on_fill(event)
            if writer is not None:  # a live fill, not one the journal already holds
                crashpoints.reached("filled")
            if record is not None:
                if writer is not None:
                    symbol = record.intent.symbol
                    writer.fill(event, symbol, *self._trader.holding(symbol))
                record.fills.append(event)
                with localcontext(EXACT):
                    record.filled += event.qty
                    record.value += event.qty * event.price
                    record.fee += event.fee
                record.status = OrderStatus.PARTIALLY_FILLED
            return
        if record is not None:
            record.status = event.status
            record.message = event.message
        self.reject_count += journal and event.status in (OrderStatus.REJECTED, OrderStatus.FAILED)
        trade = self._trader.on_closed(event)
        if writer is not None:
            ledger = self._trader.ledger
            writer.close(
                event.client_id,
                event.status,
                event.message,
                (
                    ledger.free,
                    ledger.reserved,
                    ledger.in_positions,
                    ledger.realized_pnl,
                    ledger.fees_paid,
                ),
            )
        if trade is not None:
            self._on_trade(trade)  # the history shows it, replayed or not
        if not journal:
            return  # replaying the journal: what was said then is not said again
        if trade is not None:
            log.info(
                wording.trade_line(trade, self._quote),
                extra={"fields": {"pnl": fmt_decimal(trade.pnl)}},
            )
            decimals = price_decimals(self._rules(trade.symbol), float(trade.exit_price))
            news = trade.symbol in self._news
            self._news.discard(trade.symbol)
            self._notice(wording.trade_notice(trade, self._quote, decimals, news=news))
        elif record is not None:
            intent = record.intent
            avg = record.avg_price
            decimals = price_decimals(self._rules(intent.symbol), float(avg or intent.price))
            self._notice(
                wording.order_closed_notice(
                    intent, event.status, record.filled, avg, event.message, decimals
                )
            )

    # -- healing ----------------------------------------------------------------------------

    def heal(self, symbol: str) -> bool:
        """Settle the order in doubt of a symbol in error again (looked up by its id, then
        followed to its end); True when an attempt started."""
        if self._trader.books.get(symbol) is None:
            return False
        open_ids = self._trader.recover(symbol)
        if not open_ids:
            return True  # nothing in doubt: recovered at once
        record = self._records.get(open_ids[0])
        if record is None or self._account is None:
            self._trader.fault(symbol, "its order in doubt cannot be looked up here")
            return False
        self.follow(record.intent, (list(record.fills), record.journaled_ms or record.intent.ts_ms))
        return True

    # -- the trader's cancel -----------------------------------------------------------------

    async def cancel(self, client_id: str) -> NoticeText:
        """Cancel one open order on the exchange at the trader's request; the answer to show.

        A cancelled entry pauses its coin: else the next tick below the trigger would buy
        it again at once.
        """
        record = self._records.get(client_id)
        if record is None or record.status.terminal:
            return wording.cancel_not_open(client_id, None if record is None else record.status)
        account = self._account
        if account is None or client_id not in self._scopes:
            return wording.cancel_immediate(client_id)
        intent = record.intent
        if intent.kind is OrderKind.DUST_CONVERT:
            return wording.cancel_failed(client_id, "a conversion of dust cannot be cancelled")
        log.info("cancelling %s at the user's request", client_id)
        if intent.purpose is Purpose.ENTRY:
            self._trader.gate.hold(CoinHold.OWNER, intent.symbol)
        try:
            await account.cancel(intent)
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.error("cancel %s failed: %s", client_id, error_text(exc))
            return wording.cancel_failed(client_id, error_text(exc))
        return wording.cancel_sent(intent)
