"""The trader: drop-trigger entries and rule-based exits over ticks.

One instance holds every symbol's anchor, lifecycle, open order and position, and the
ledger. Replay, paper and live trading drive the same object: `on_tick` for each price
tick, `on_fill` and `on_closed` for what the broker reports. It never does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from enum import StrEnum

from tradebot_tui.core.anchors import AnchorMode, AnchorTracker
from tradebot_tui.core.exits import ExitParams, ExitReason, ExitWatch
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.lifecycle import Event, Lifecycle, State
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import DIVISION, EXACT, ZERO, dec
from tradebot_tui.core.orders import (
    Fill,
    OrderClosed,
    OrderIntent,
    OrderStatus,
    Purpose,
    Side,
    client_order_id,
)

_BASIS_QUANTUM = Decimal("1e-24")


@dataclass(frozen=True, slots=True)
class StrategyParams:
    """Everything the trader needs to decide, in its own units."""

    anchor: AnchorMode = AnchorMode.HYBRID
    window_s: int = 3600
    trigger_pct: float = 2.0
    stake: Decimal = Decimal(100)
    max_positions: int = 5
    cooldown_s: int = 900
    fee_rate: Decimal = Decimal("0.001")
    exits: ExitParams = field(default_factory=ExitParams)


class Status(StrEnum):
    """What a symbol is doing, or why it is not buying (the watchlist's status column)."""

    NO_DATA = "no data"
    WARMING_UP = "warming up"
    WATCHING = "watching"
    BUYING = "buying"
    IN_POSITION = "in position"
    SELLING = "selling"
    COOLDOWN = "cooldown"
    PAUSED = "paused"
    MAX_POSITIONS = "max positions"
    BUDGET = "budget"
    BELOW_MINIMUM = "below minimum"
    ERROR = "error"


@dataclass(slots=True)
class Position:
    """What is held of one symbol, at cost, plus what was sold of it so far."""

    symbol: str
    qty: Decimal
    cost: Decimal
    entry_fees: Decimal
    entry_ts_ms: int
    bought_qty: Decimal
    bought_cost: Decimal
    watch: ExitWatch | None = None
    sold_qty: Decimal = ZERO
    sold_proceeds: Decimal = ZERO
    exit_fees: Decimal = ZERO

    @property
    def entry_price(self) -> Decimal:
        """Average entry price of everything bought."""
        with localcontext(DIVISION):
            return self.bought_cost / self.bought_qty


@dataclass(frozen=True, slots=True)
class Trade:
    """A closed round trip; `pnl` = proceeds - exit fees - cost - entry fees."""

    symbol: str
    entry_ts_ms: int
    entry_price: Decimal
    exit_ts_ms: int
    exit_price: Decimal
    qty: Decimal
    exit_reason: ExitReason
    pnl: Decimal
    fees: Decimal


class SymbolBook:
    """Runtime state of one symbol."""

    __slots__ = (
        "anchor",
        "anchor_price",
        "blocked",
        "exit_reason",
        "filled",
        "last_exit_ts",
        "last_price",
        "last_ts",
        "life",
        "order",
        "position",
        "rules",
        "symbol",
    )

    def __init__(self, symbol: str, rules: MarketRules, anchor: AnchorTracker) -> None:
        self.symbol = symbol
        self.rules = rules
        self.anchor = anchor
        self.life = Lifecycle(symbol)
        self.last_price = 0.0
        self.last_ts = 0
        self.anchor_price: float | None = None
        self.position: Position | None = None
        self.order: OrderIntent | None = None
        self.filled = ZERO
        self.exit_reason: ExitReason | None = None
        self.last_exit_ts: int | None = None
        self.blocked: Status | None = None


class Trader:
    """Drop-trigger strategy, exits and budget for a set of symbols in one quote currency."""

    def __init__(
        self,
        params: StrategyParams,
        ledger: Ledger,
        rules: Callable[[str], MarketRules],
        *,
        profile: str = "paper",
        next_seq: int = 1,
    ) -> None:
        self.ledger = ledger
        self.profile = profile
        self.paused = False
        self.next_seq = next_seq
        self.open_count = 0
        self._rules = rules
        self._books: dict[str, SymbolBook] = {}
        self._orders: dict[str, SymbolBook] = {}
        self.set_params(params)

    # -- settings ------------------------------------------------------------------------

    def set_params(self, params: StrategyParams) -> None:
        """Apply new settings; a new anchor mode or window restarts the anchors' warm-up."""
        old = getattr(self, "params", None)
        self.params = params
        self._window_ms = params.window_s * 1000
        self._cooldown_ms = params.cooldown_s * 1000
        self._trigger = params.trigger_pct
        # A price above this cannot be a trigger; the exact formula decides below it.
        self._reject_above = 1 - params.trigger_pct / 100 * (1 - 1e-9)
        with localcontext(EXACT):
            self._stake_with_fee = params.stake + params.stake * params.fee_rate
        if old is not None and (old.anchor, old.window_s) != (params.anchor, params.window_s):
            for book in self._books.values():
                book.anchor = AnchorTracker(params.anchor, self._window_ms)
                book.anchor_price = None

    # -- reading -------------------------------------------------------------------------

    @property
    def books(self) -> dict[str, SymbolBook]:
        return self._books

    def book(self, symbol: str) -> SymbolBook:
        book = self._books.get(symbol)
        if book is None:
            book = SymbolBook(
                symbol, self._rules(symbol), AnchorTracker(self.params.anchor, self._window_ms)
            )
            self._books[symbol] = book
        return book

    def order_book(self, client_id: str) -> SymbolBook | None:
        return self._orders.get(client_id)

    def status(self, symbol: str, now_ms: int) -> tuple[Status, int]:
        """The symbol's status and, for timed ones, the milliseconds left (else 0)."""
        book = self._books.get(symbol)
        if book is None or not book.last_ts:
            return Status.NO_DATA, 0
        state = book.life.state
        if state is State.IDLE:
            if book.anchor_price is None:
                warm = book.anchor.warm_until(now_ms)
                return Status.WARMING_UP, max(0, (warm or now_ms) - now_ms)
            if self.paused:
                return Status.PAUSED, 0
            if self.open_count >= self.params.max_positions:
                return Status.MAX_POSITIONS, 0
            if self.ledger.free < self._stake_with_fee:
                return Status.BUDGET, 0
            if book.blocked is Status.BELOW_MINIMUM:
                return Status.BELOW_MINIMUM, 0
            return Status.WATCHING, 0
        if state is State.COOLDOWN:
            assert book.last_exit_ts is not None
            return Status.COOLDOWN, max(0, book.last_exit_ts + self._cooldown_ms - now_ms)
        if state in (State.ENTRY_PENDING, State.ENTRY_PARTIAL):
            return Status.BUYING, 0
        if state is State.IN_POSITION:
            return Status.IN_POSITION, 0
        if state in (State.EXIT_PENDING, State.EXIT_PARTIAL):
            return Status.SELLING, 0
        return Status.ERROR, 0

    # -- ticks ---------------------------------------------------------------------------

    def warm(self, ts_ms: int, symbol: str, price: float) -> None:
        """Feed a historical tick: updates the anchor and last price, never trades."""
        book = self._books.get(symbol) or self.book(symbol)
        book.last_price = price
        book.last_ts = ts_ms
        book.anchor_price = book.anchor.update(ts_ms, price)

    def on_tick(self, ts_ms: int, symbol: str, price: float) -> OrderIntent | None:
        """Process one live tick; return an order to place, if any."""
        book = self._books.get(symbol) or self.book(symbol)
        book.last_price = price
        book.last_ts = ts_ms
        anchor = book.anchor.update(ts_ms, price)
        book.anchor_price = anchor
        state = book.life.state
        if state is State.IN_POSITION:
            position = book.position
            assert position is not None and position.watch is not None
            reason = position.watch.check(ts_ms, price)
            if reason is None:
                return None
            return self._exit(book, ts_ms, price, reason)
        if state is State.COOLDOWN:
            assert book.last_exit_ts is not None
            if ts_ms - book.last_exit_ts < self._cooldown_ms:
                return None
            book.life.apply(Event.COOLDOWN_OVER)
        elif state is not State.IDLE:
            return None
        if anchor is None or price > anchor * self._reject_above:
            return None
        drop = (anchor - price) / anchor * 100
        if drop < self._trigger:
            return None
        return self._enter(book, ts_ms, price, anchor, drop)

    def _enter(
        self, book: SymbolBook, ts_ms: int, price: float, anchor: float, drop: float
    ) -> OrderIntent | None:
        if self.paused:
            book.blocked = Status.PAUSED
            return None
        if self.open_count >= self.params.max_positions:
            book.blocked = Status.MAX_POSITIONS
            return None
        if self.ledger.free < self._stake_with_fee:
            book.blocked = Status.BUDGET
            return None
        px = dec(price)
        qty = book.rules.entry_qty(self.params.stake, px)
        if book.rules.below_minimum(qty, px) is not None:
            book.blocked = Status.BELOW_MINIMUM
            return None
        with localcontext(EXACT):
            cost = qty * px
            reserve = cost + cost * self.params.fee_rate
        cid = self._next_client_id(book.symbol)
        self.ledger.reserve(cid, reserve)
        book.life.apply(Event.ENTRY_SUBMITTED)
        book.blocked = None
        book.filled = ZERO
        intent = OrderIntent(
            client_id=cid,
            symbol=book.symbol,
            side=Side.BUY,
            purpose=Purpose.ENTRY,
            qty=qty,
            price=px,
            ts_ms=ts_ms,
            reserved=reserve,
            anchor=anchor,
            drop_pct=drop,
        )
        book.order = intent
        self._orders[cid] = book
        self.open_count += 1
        return intent

    def exit_position(
        self, symbol: str, ts_ms: int, reason: ExitReason = ExitReason.MANUAL
    ) -> OrderIntent | None:
        """Ask to close a position now (manual exit); None when there is none to close."""
        book = self._books.get(symbol)
        if book is None or book.life.state is not State.IN_POSITION:
            return None
        return self._exit(book, ts_ms, book.last_price, reason)

    def _exit(self, book: SymbolBook, ts_ms: int, price: float, reason: ExitReason) -> OrderIntent:
        position = book.position
        assert position is not None
        cid = self._next_client_id(book.symbol)
        book.life.apply(Event.EXIT_SUBMITTED)
        book.filled = ZERO
        book.exit_reason = reason
        intent = OrderIntent(
            client_id=cid,
            symbol=book.symbol,
            side=Side.SELL,
            purpose=Purpose.EXIT,
            qty=position.qty,
            price=dec(price),
            ts_ms=ts_ms,
            reason=reason,
        )
        book.order = intent
        self._orders[cid] = book
        return intent

    def _next_client_id(self, symbol: str) -> str:
        cid = client_order_id(self.profile, symbol, self.next_seq)
        self.next_seq += 1
        return cid

    # -- broker reports ------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        """Apply a (partial) execution of one of our orders."""
        book = self._orders.get(fill.client_id)
        if book is None or book.order is None:
            raise KeyError(f"fill for unknown order {fill.client_id}")
        intent = book.order
        with localcontext(EXACT):
            value = fill.qty * fill.price
            book.filled += fill.qty
        if intent.purpose is Purpose.ENTRY:
            self.ledger.fill_entry(fill.client_id, book.symbol, value, fill.fee)
            position = book.position
            if position is None:
                book.position = Position(
                    symbol=book.symbol,
                    qty=fill.qty,
                    cost=value,
                    entry_fees=fill.fee,
                    entry_ts_ms=fill.ts_ms,
                    bought_qty=fill.qty,
                    bought_cost=value,
                )
            else:
                with localcontext(EXACT):
                    position.qty += fill.qty
                    position.cost += value
                    position.entry_fees += fill.fee
                    position.bought_qty += fill.qty
                    position.bought_cost += value
            if book.filled < intent.qty:
                book.life.apply(Event.ENTRY_PARTIAL_FILL)
            return
        position = book.position
        assert position is not None
        if fill.qty > position.qty:
            raise ValueError(
                f"{fill.client_id}: sold {fill.qty} {book.symbol} but only {position.qty} held"
            )
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
            position.sold_proceeds += value
            position.exit_fees += fill.fee
        if position.qty > 0:
            book.life.apply(Event.EXIT_PARTIAL_FILL)

    def on_closed(self, closed: OrderClosed) -> Trade | None:
        """An order ended; returns the closed trade when this ends a position."""
        book = self._orders.pop(closed.client_id, None)
        if book is None or book.order is None:
            raise KeyError(f"close for unknown order {closed.client_id}")
        intent = book.order
        book.order = None
        if intent.purpose is Purpose.ENTRY:
            self.ledger.release(closed.client_id)
            if book.filled == 0:
                book.life.apply(Event.ENTRY_FAILED)
                self.open_count -= 1
                return None
            if closed.status is OrderStatus.FILLED:
                book.life.apply(Event.ENTRY_FILLED)
            else:
                book.life.apply(Event.ENTRY_CLOSED_PARTIAL)
            position = book.position
            assert position is not None
            position.watch = ExitWatch(
                self.params.exits, float(position.entry_price), position.entry_ts_ms
            )
            return None
        position = book.position
        assert position is not None
        if position.qty > 0:
            book.life.apply(Event.EXIT_FAILED)
            return None
        book.life.apply(Event.EXIT_FILLED)
        book.position = None
        self.open_count -= 1
        with localcontext(DIVISION):
            exit_price = position.sold_proceeds / position.sold_qty
        with localcontext(EXACT):
            fees = position.entry_fees + position.exit_fees
            pnl = position.sold_proceeds - position.bought_cost - fees
        reason = book.exit_reason or ExitReason.MANUAL
        book.last_exit_ts = closed.ts_ms
        book.anchor.record_exit(closed.ts_ms, float(exit_price))
        return Trade(
            symbol=book.symbol,
            entry_ts_ms=position.entry_ts_ms,
            entry_price=position.entry_price,
            exit_ts_ms=closed.ts_ms,
            exit_price=exit_price,
            qty=position.sold_qty,
            exit_reason=reason,
            pnl=pnl,
            fees=fees,
        )
