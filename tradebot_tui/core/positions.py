"""Positions and fill accounting: every symbol's book, the orders open on them, and what
each fill and each closure does to the position, the dust and the ledger.

The broker's reports arrive here (`on_fill`, `on_closed`, `on_unknown`,
`on_unexplained`), from replay, paper and live alike. Amounts are Decimal and every sum
is exact: a position's cost is what its fills cost, a sale books the cost basis of what
it sold, and what is left below the market's minimum becomes dust at its cost.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from decimal import Decimal, localcontext

from tradebot_tui.core.book import Position, SymbolBook, Trade
from tradebot_tui.core.dust import DustBin
from tradebot_tui.core.exits import ExitReason, ExitWatch
from tradebot_tui.core.gate import CoinHold, EntryGate
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.lifecycle import Event, State
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import DIVISION, EXACT, ZERO, dec
from tradebot_tui.core.orders import (
    Fill,
    OrderClosed,
    OrderIntent,
    OrderKind,
    OrderStatus,
    OutcomeUnknown,
    Purpose,
    Unexplained,
)
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.protections import Protections

_BASIS_QUANTUM = Decimal("1e-24")


class Positions:
    """The books of every symbol, the open orders by client id, and the fill accounting."""

    def __init__(
        self,
        ledger: Ledger,
        rules: Callable[[str], MarketRules],
        params: StrategyParams,
        *,
        dust: DustBin,
        gate: EntryGate,
        protections: Protections,
    ) -> None:
        self.ledger = ledger
        self.dust = dust
        self.books: dict[str, SymbolBook] = {}
        self.orders: dict[str, SymbolBook] = {}  # open orders by client id
        self.open_count = 0  # positions, and entries that may become one
        # Commissions paid in a third asset (BNB), at their quote value: part of the fees,
        # never taken from the quote balance.
        self.fees_elsewhere = ZERO
        # The settings new books anchor with and new positions take their exits from.
        self.params = params
        self._rules = rules
        self._gate = gate
        self._protections = protections

    # -- books -------------------------------------------------------------------------------

    def book(self, symbol: str) -> SymbolBook:
        """The book of `symbol`, created on first use."""
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = SymbolBook(
                symbol, self._rules(symbol), self.params.anchor_tracker()
            )
        return book

    def forget(self, keep: Collection[str], now_ms: int, cooldown_ms: int) -> list[str]:
        """Drop the books of symbols that left the universe and hold nothing.

        A book stays while its symbol is in `keep` (the universe), is held (a position, an
        order, an error, sellable dust), has dust, is in its cooldown, or is stopped for
        something the user must look at. Returns the symbols forgotten.
        """
        held = self.held_symbols()
        gate = self._gate
        gone = [
            symbol
            for symbol, book in self.books.items()
            if symbol not in keep
            and symbol not in held
            and book.position is None
            and book.state in (State.IDLE, State.COOLDOWN)
            and symbol not in self.dust
            and symbol not in gate.held(CoinHold.UNEXPLAINED)
            and symbol not in gate.held(CoinHold.MISMATCH)
            and (book.last_exit_ts is None or now_ms - book.last_exit_ts >= cooldown_ms)
        ]
        for symbol in gone:
            del self.books[symbol]
        return gone

    def register(self, book: SymbolBook, intent: OrderIntent) -> None:
        """`intent` is the book's open order from now on."""
        book.order = intent
        self.orders[intent.client_id] = book

    def open_orders(self) -> list[OrderIntent]:
        return [b.order for b in self.orders.values() if b.order is not None]

    def exit_watch(self, position: Position) -> ExitWatch:
        """The exits of `position`, at the exit settings in force now."""
        return ExitWatch(self.params.exits, float(position.entry_price), position.entry_ts_ms)

    # -- reading -----------------------------------------------------------------------------

    def holding(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Amount and cost of `symbol` held: the open position plus its dust."""
        qty = cost = ZERO
        book = self.books.get(symbol)
        if book is not None and book.position is not None:
            qty, cost = book.position.qty, book.position.cost
        dust = self.dust.get(symbol)
        if dust is not None:
            qty, cost = qty + dust.qty, cost + dust.cost
        return qty, cost

    def held_symbols(self) -> frozenset[str]:
        """Every symbol the bot holds something of: a position, an order (open, or in error
        or recovery), or dust that could be sold. Their prices must keep coming."""
        held: set[str] = set()
        for symbol, book in self.books.items():
            position = book.position
            if (
                book.order is not None
                or book.state in (State.ERROR, State.RECOVERING)
                or (position is not None and position.qty > 0)
            ):
                held.add(symbol)
        for symbol, dust in self.dust.items():
            dusty = self.books.get(symbol)
            if dusty is None or not dusty.last_price:
                continue
            rules, price = dusty.rules, dec(dusty.last_price)
            if rules.below_minimum(rules.round_qty(dust.qty), price) is None:
                held.add(symbol)
        return frozenset(held)

    def held_or_buying(self) -> list[str]:
        """The symbols with a position, or a buy open (sold once it ends): what an exit
        of everything sells."""
        return [s for s, b in self.books.items() if b.position is not None or b.buying]

    def in_error(self) -> list[str]:
        """Symbols in error (an order in doubt): the engine retries them."""
        return [s for s, b in self.books.items() if b.state is State.ERROR]

    def equity(self) -> Decimal:
        """Free and reserved budget plus the open positions at their last prices."""
        total = self.ledger.free + self.ledger.reserved
        for book in self.books.values():
            position = book.position
            if position is not None and position.qty > 0:
                total += position.qty * dec(book.last_price)
        return total

    def unrealized_pnl(self) -> Decimal:
        """Open positions valued at their last price, less their cost (fees not included)."""
        total = ZERO
        for book in self.books.values():
            position = book.position
            if position is not None and position.qty > 0:
                total += position.qty * dec(book.last_price) - position.cost
        return total

    # -- what the broker reports -------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        """Apply a (partial) execution of one of our orders.

        Raises:
            KeyError: no open order of ours has this client id.
            ValueError: a sale of more than the position holds.
        """
        book = self.orders.get(fill.client_id)
        if book is None or book.order is None:
            raise KeyError(f"fill for unknown order {fill.client_id}")
        intent = book.order
        book.order_unknown = False
        recovering = book.state is State.RECOVERING
        with localcontext(EXACT):
            value = fill.qty * fill.price
            book.filled += fill.qty
            self.fees_elsewhere += fill.fee_elsewhere
        if intent.purpose is Purpose.ENTRY:
            self.ledger.fill_entry(fill.client_id, book.symbol, value, fill.fee)
            self._add_to_position(book, fill, value)
            if book.filled < intent.qty and not recovering:
                book.apply(Event.ENTRY_PARTIAL_FILL)
            return
        position = book.position
        assert position is not None
        if fill.qty > position.qty:
            raise ValueError(
                f"{fill.client_id}: sold {fill.qty} {book.symbol} but only {position.qty} held"
            )
        self._protections.roll_day(fill.ts_ms)
        if fill.qty == position.qty:
            basis = position.cost
        else:
            with localcontext(DIVISION):
                basis = (position.cost * fill.qty / position.qty).quantize(_BASIS_QUANTUM)
        self.ledger.fill_exit(book.symbol, basis, value, fill.fee)
        with localcontext(EXACT):
            position.qty -= fill.qty
            position.cost -= basis
            position.sold_qty += fill.qty
            position.sold_basis += basis
            position.sold_proceeds += value
            position.exit_fees += fill.fee
        self._protections.realized()
        if position.qty > 0 and not recovering:
            book.apply(Event.EXIT_PARTIAL_FILL)

    def on_unknown(self, event: OutcomeUnknown) -> None:
        """The order's outcome is unknown until the exchange shows it: say so."""
        book = self.orders.get(event.client_id)
        if book is None or book.order is None:
            raise KeyError(f"unknown outcome of an unknown order {event.client_id}")
        book.order_unknown = True

    def on_unexplained(self, event: Unexplained) -> None:
        """Something about the order cannot be explained: no entries on its symbol."""
        book = self.orders.get(event.client_id)
        if book is None:
            raise KeyError(f"unexplained report of an unknown order {event.client_id}")
        self._gate.hold(CoinHold.UNEXPLAINED, book.symbol, event.message)

    def _add_to_position(self, book: SymbolBook, fill: Fill, value: Decimal) -> None:
        position = book.position
        if position is None:
            position = book.position = Position(
                symbol=book.symbol,
                qty=ZERO,
                cost=ZERO,
                entry_fees=ZERO,
                entry_ts_ms=fill.ts_ms,
                bought_qty=ZERO,
                bought_cost=ZERO,
            )
            # Dust of an earlier position joins the new one at its cost and is sold with it.
            dust = self.dust.take(book.symbol)
            if dust is not None:
                with localcontext(EXACT):
                    position.qty += dust.qty
                    position.cost += dust.cost
                    position.bought_qty += dust.qty
                    position.bought_cost += dust.cost
        with localcontext(EXACT):
            position.qty += fill.qty
            position.cost += value
            position.entry_fees += fill.fee
            position.bought_qty += fill.qty
            position.bought_cost += value

    def on_closed(self, closed: OrderClosed) -> Trade | None:
        """An order ended; returns the closed trade when this ends a position.

        Raises:
            KeyError: no open order of ours has this client id.
        """
        book = self.orders.pop(closed.client_id, None)
        if book is None or book.order is None:
            raise KeyError(f"close for unknown order {closed.client_id}")
        intent = book.order
        book.order = None
        book.order_unknown = False
        if intent.purpose is Purpose.ENTRY:
            self.ledger.release(closed.client_id)
        dust = intent.kind is OrderKind.DUST_CONVERT
        if book.state is State.RECOVERING:
            return self.finish_recovery(book, closed, dust=dust)
        if intent.purpose is Purpose.ENTRY:
            self._close_entry(book, closed, intent.price)
            return None
        if dust:
            return self._close_conversion(book, closed)
        return self._close_exit(book, closed, intent.price)

    def _close_entry(self, book: SymbolBook, closed: OrderClosed, price: Decimal) -> None:
        """An entry ended. Whether a partial buy is dust is judged at the order's price,
        which the journal holds: a restart decides exactly as the live run did."""
        if book.filled == 0:
            book.apply(Event.ENTRY_FAILED)
            book.exit_due = None  # nothing was bought: nothing to sell
            self.open_count -= 1
            return
        position = book.position
        assert position is not None
        if closed.status is OrderStatus.FILLED:
            book.apply(Event.ENTRY_FILLED)
        elif book.rules.below_minimum(position.qty, price) is not None:
            self._to_dust(book)
            book.apply(Event.ENTRY_CLOSED_DUST)
            book.exit_due = None
            self.open_count -= 1
            return
        else:
            book.apply(Event.ENTRY_CLOSED_PARTIAL)
        book.watch = self.exit_watch(position)

    def _close_exit(self, book: SymbolBook, closed: OrderClosed, price: Decimal) -> Trade | None:
        """An exit ended; what it did not sell is sellable or dust at the order's price."""
        position = book.position
        assert position is not None
        if position.qty > 0:
            if book.rules.below_minimum(position.qty, price) is None:
                book.apply(Event.EXIT_FAILED)  # sellable: the next tick tries again
                return None
            self._to_dust(book)
        book.apply(Event.EXIT_FILLED)
        book.position = None
        book.watch = None
        book.exit_due = None  # sold out: an exit asked for meanwhile is done
        self.open_count -= 1
        if not position.sold_qty:
            return None
        return self._ended(book, self._trade(book, position, closed))

    def _close_conversion(self, book: SymbolBook, closed: OrderClosed) -> Trade | None:
        """A conversion of dust ended (`core.sweep`): what it did not convert is dust
        again, whatever it is worth now. It was no sale of the strategy's: the coin's
        cooldown and anchor stay as they were."""
        position = book.position
        assert position is not None
        if position.qty > 0:
            self._to_dust(book)
        book.apply(Event.EXIT_FILLED)
        if book.last_exit_ts is None:
            book.apply(Event.COOLDOWN_OVER)  # it had none: idle again at once
        book.position = None
        self.open_count -= 1
        if not position.sold_qty:
            return None
        return self._trade(book, position, closed)

    @staticmethod
    def _ended(book: SymbolBook, trade: Trade) -> Trade:
        """A sale of the strategy's ended its trade: the coin's cooldown starts, and the
        anchor remembers the exit's price (a conversion of dust does neither)."""
        book.last_exit_ts = trade.exit_ts_ms
        book.anchor.record_exit(trade.exit_ts_ms, float(trade.exit_price))
        return trade

    def _trade(self, book: SymbolBook, position: Position, closed: OrderClosed) -> Trade:
        """The round trip a sold-out position made."""
        with localcontext(DIVISION):
            exit_price = position.sold_proceeds / position.sold_qty
        with localcontext(EXACT):
            fees = position.entry_fees + position.exit_fees
            pnl = position.sold_proceeds - position.sold_basis - fees
        return Trade(
            symbol=book.symbol,
            entry_ts_ms=position.entry_ts_ms,
            entry_price=position.entry_price,
            exit_ts_ms=closed.ts_ms,
            exit_price=exit_price,
            qty=position.sold_qty,
            exit_reason=book.exit_reason or ExitReason.MANUAL,
            pnl=pnl,
            fees=fees,
        )

    def _to_dust(self, book: SymbolBook) -> None:
        """Move what is left of a position to the dust of its symbol (ledger unchanged)."""
        position = book.position
        assert position is not None
        self.dust.add(book.symbol, position.qty, position.cost)
        position.qty = ZERO
        position.cost = ZERO
        if not position.sold_qty:
            book.position = None
            book.watch = None

    def finish_recovery(
        self, book: SymbolBook, closed: OrderClosed | None, *, dust: bool = False
    ) -> Trade | None:
        """The order in doubt is settled: back in position, or flat (a sale that was in
        doubt ends its trade, which is returned). `dust`: it was a conversion of dust,
        whose rest is dust again."""
        position = book.position
        trade = None
        if dust and position is not None and position.qty > 0:
            self._to_dust(book)
        if position is not None and position.qty > 0:
            book.apply(Event.RECOVERED_IN_POSITION)
            if book.watch is None:
                book.watch = self.exit_watch(position)
        else:
            if position is not None and position.sold_qty and closed is not None:
                trade = self._trade(book, position, closed)
                if not dust:
                    self._ended(book, trade)
            book.apply(Event.RECOVERED_FLAT)
            book.position = None
            book.watch = None
            book.exit_due = None
        book.error = ""
        # Count open positions afresh: a fault may have struck at any step of the count.
        self.open_count = sum(
            1
            for b in self.books.values()
            if b.position is not None or (b.order is not None and b.order.purpose is Purpose.ENTRY)
        )
        return trade
