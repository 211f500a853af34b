"""The trader: drop-trigger entries, rule-based exits and protections over ticks.

One instance holds every symbol's anchor, lifecycle, open order and position, the dust
left behind, and the ledger. Replay, paper and live trading drive the same object:
`on_tick` for each price tick, `on_fill` and `on_closed` for what the broker reports,
`fault` and `recover` when something cannot be explained. It never does I/O and never
reads a clock: the engine sets `now_ms` when it has one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from enum import StrEnum

from tradebot_tui.core.anchors import DAY_MS, AnchorMode, AnchorTracker
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
    OutcomeUnknown,
    Purpose,
    Side,
    Unexplained,
    client_id_seq,
    client_order_id,
)

_BASIS_QUANTUM = Decimal("1e-24")
_IDLE = State.IDLE
_IN_POSITION = State.IN_POSITION
_COOLDOWN = State.COOLDOWN
_ERROR = State.ERROR
_BUYING = (State.ENTRY_PENDING, State.ENTRY_PARTIAL)


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
    # Protections; 0 turns each off.
    daily_loss_limit_pct: float = 0.0
    max_drawdown_pct: float = 0.0
    stale_after_s: int = 60


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
    SYMBOL_PAUSED = "paused (this coin)"
    CIRCUIT_OPEN = "circuit open"
    MISMATCH = "balance mismatch"
    STALE = "stale price"
    DAILY_LOSS = "daily loss limit"
    DRAWDOWN = "max drawdown"
    MAX_POSITIONS = "max positions"
    BUDGET = "budget"
    BELOW_MINIMUM = "below minimum"
    ERROR = "error"
    RECOVERING = "recovering"
    # An order was sent and its outcome is not known yet: nothing new until it is.
    UNKNOWN = "order status unknown"
    # The exchange showed something about one of our orders that cannot be explained.
    UNEXPLAINED = "unexplained order"
    # Held, its feed quiet: the exits are evaluated on prices fetched by REST.
    IN_POSITION_REST = "in position (REST price)"


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
    sold_qty: Decimal = ZERO
    sold_basis: Decimal = ZERO
    sold_proceeds: Decimal = ZERO
    exit_fees: Decimal = ZERO

    @property
    def entry_price(self) -> Decimal:
        """Weighted average price of everything bought (dust merged in included)."""
        with localcontext(DIVISION):
            return self.bought_cost / self.bought_qty


@dataclass(frozen=True, slots=True)
class Dust:
    """An amount of one symbol too small to sell, still counted in the ledger at cost."""

    qty: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class Trade:
    """A closed round trip; `pnl` = proceeds - cost of what was sold - all fees."""

    symbol: str
    entry_ts_ms: int
    entry_price: Decimal
    exit_ts_ms: int
    exit_price: Decimal
    qty: Decimal
    exit_reason: ExitReason
    pnl: Decimal
    fees: Decimal


class SymbolBook(Lifecycle):
    """Runtime state of one symbol; its lifecycle state is `state`."""

    __slots__ = (
        "anchor",
        "anchor_price",
        "blocked",
        "error",
        "exit_due",
        "exit_reason",
        "filled",
        "last_exit_ts",
        "last_price",
        "last_ts",
        "order",
        "order_unknown",
        "position",
        "rest_ts",
        "rules",
        "watch",
    )

    def __init__(self, symbol: str, rules: MarketRules, anchor: AnchorTracker) -> None:
        super().__init__(symbol)
        self.rules = rules
        self.anchor = anchor
        self.last_price = 0.0
        self.last_ts = 0
        self.anchor_price: float | None = None
        self.position: Position | None = None
        self.watch: ExitWatch | None = None
        self.order: OrderIntent | None = None
        # The exchange has not said yet whether `order` exists (its answer was lost).
        self.order_unknown = False
        # The time of the last price fetched by REST (the feed went quiet); 0: none.
        self.rest_ts = 0
        self.filled = ZERO
        self.exit_reason: ExitReason | None = None
        # An exit that fired (or was asked for) while the symbol was in error or its buy
        # was still open: sent as soon as the order is settled or the buy has ended.
        self.exit_due: ExitReason | None = None
        self.last_exit_ts: int | None = None
        # Why the last decision to buy refused (None: it bought, or never decided).
        self.blocked: Status | None = None
        self.error = ""

    @property
    def buying(self) -> bool:
        """A buy order of ours is open (nothing or part of it filled so far)."""
        return self.state in _BUYING


class Trader:
    """Drop-trigger strategy, exits, protections and budget for one quote currency."""

    def __init__(
        self,
        params: StrategyParams,
        ledger: Ledger,
        rules: Callable[[str], MarketRules],
        *,
        id_prefix: str = "tb-paper-sim-",
        next_seq: int = 1,
    ) -> None:
        self.ledger = ledger
        # Our client ids are `<id_prefix><seq>` (core.orders.client_order_id).
        self.id_prefix = id_prefix
        self.paused = False
        # The kill switch: equity it measures from, and why it tripped ("" while armed).
        # Tripped, it sold everything and paused entries; resuming re-arms it from there.
        self.kill_reference = ledger.initial
        self.killed = ""
        # Symbols the user paused one by one: no new entries there; exits go on.
        self.paused_symbols: set[str] = set()
        # Set by the engine while the exchange's circuit breaker is open: no new entries.
        self.circuit_open = False
        # Symbols whose exchange balance or orders disagree with ours: why, by symbol
        # (reconciliation holds and releases them).
        self.held: dict[str, str] = {}
        # The quote balance on the exchange disagrees with the ledger: both figures. No
        # entries on any symbol while it does (reconciliation sets and clears it).
        self.quote_drift: str | None = None
        # Commissions paid in a third asset (BNB), at their quote value: part of the fees,
        # never taken from the quote balance.
        self.fees_elsewhere = ZERO
        # Symbols with an order the exchange showed and nothing explains: why, by symbol.
        # Only the user releases them.
        self.unexplained: dict[str, str] = {}
        self.next_seq = next_seq
        self.open_count = 0
        # Engine time (ms) for the stale-price guard; 0 (replay) turns the guard off.
        self.now_ms = 0
        self.dust: dict[str, Dust] = {}
        self._rules = rules
        self._books: dict[str, SymbolBook] = {}
        self._orders: dict[str, SymbolBook] = {}
        self._day = -1
        self._day_start_equity = ledger.realized_equity()
        self._peak_equity = ledger.realized_equity()
        self.set_params(params)

    # -- settings ------------------------------------------------------------------------

    def set_params(self, params: StrategyParams) -> None:
        """Apply new settings; a new anchor mode or window restarts the anchors' warm-up.

        Open positions keep the exit thresholds they were opened with.
        """
        old = getattr(self, "params", None)
        self.params = params
        self._window_ms = params.window_s * 1000
        self._cooldown_ms = params.cooldown_s * 1000
        self._stale_ms = params.stale_after_s * 1000
        self._trigger = params.trigger_pct
        # A price above this cannot be a trigger; the exact formula decides below it.
        self._reject_above = 1 - params.trigger_pct / 100 * (1 - 1e-9)
        self._daily_limit = Decimal(repr(params.daily_loss_limit_pct)) / 100
        self._drawdown_limit = Decimal(repr(params.max_drawdown_pct)) / 100
        with localcontext(EXACT):
            self._stake_with_fee = params.stake + params.stake * params.fee_rate
        self._stake_float = float(params.stake)
        if old is not None and (old.anchor, old.window_s) != (params.anchor, params.window_s):
            for book in self._books.values():
                book.anchor = AnchorTracker(params.anchor, self._window_ms)
                book.anchor_price = None

    @property
    def reject_above(self) -> float:
        """A tick priced above anchor × this is never an entry: `on_tick` rejects it before
        the exact drop formula (replays that skip such ticks rely on it)."""
        return self._reject_above

    # -- reading -------------------------------------------------------------------------

    @property
    def books(self) -> dict[str, SymbolBook]:
        return self._books

    def book(self, symbol: str) -> SymbolBook:
        """The book of `symbol`, created on first use."""
        book = self._books.get(symbol)
        if book is None:
            book = SymbolBook(
                symbol, self._rules(symbol), AnchorTracker(self.params.anchor, self._window_ms)
            )
            self._books[symbol] = book
        return book

    def forget(self, keep: Collection[str], now_ms: int) -> list[str]:
        """Drop the books of symbols that left the universe and hold nothing.

        A book stays while its symbol is in `keep` (the universe), is held (a position, an
        order, an error, sellable dust), has dust, is in its cooldown, or is stopped for
        something the user must look at. Returns the symbols forgotten.
        """
        held = self.held_symbols()
        gone = [
            symbol
            for symbol, book in self._books.items()
            if symbol not in keep
            and symbol not in held
            and book.position is None
            and book.state in (State.IDLE, State.COOLDOWN)
            and symbol not in self.dust
            and symbol not in self.unexplained
            and symbol not in self.held
            and (book.last_exit_ts is None or now_ms - book.last_exit_ts >= self._cooldown_ms)
        ]
        for symbol in gone:
            del self._books[symbol]
        return gone

    def order_book(self, client_id: str) -> SymbolBook | None:
        return self._orders.get(client_id)

    def open_orders(self) -> list[OrderIntent]:
        return [b.order for b in self._orders.values() if b.order is not None]

    def holding(self, symbol: str) -> tuple[Decimal, Decimal]:
        """Amount and cost of `symbol` held: the open position plus its dust."""
        qty = cost = ZERO
        book = self._books.get(symbol)
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
        for symbol, book in self._books.items():
            position = book.position
            if (
                book.order is not None
                or book.state in (State.ERROR, State.RECOVERING)
                or (position is not None and position.qty > 0)
            ):
                held.add(symbol)
        for symbol, dust in self.dust.items():
            dusty = self._books.get(symbol)
            if dusty is None or not dusty.last_price:
                continue
            rules, price = dusty.rules, dec(dusty.last_price)
            if rules.below_minimum(rules.round_qty(dust.qty), price) is None:
                held.add(symbol)
        return frozenset(held)

    def equity(self) -> Decimal:
        """Free and reserved budget plus the open positions at their last prices."""
        total = self.ledger.free + self.ledger.reserved
        for book in self._books.values():
            position = book.position
            if position is not None and position.qty > 0:
                total += position.qty * dec(book.last_price)
        return total

    def unrealized_pnl(self) -> Decimal:
        """Open positions valued at their last price, less their cost (fees not included)."""
        total = ZERO
        for book in self._books.values():
            position = book.position
            if position is not None and position.qty > 0:
                total += position.qty * dec(book.last_price) - position.cost
        return total

    def status(self, symbol: str, now_ms: int) -> tuple[Status, int]:
        """The symbol's status and, for timed ones, the milliseconds left (else 0).

        An idle symbol shows what `entry_gate` says, the very check `on_tick` makes before
        it buys: the reason shown is the reason the trader refuses.
        """
        book = self._books.get(symbol)
        if book is None or not book.last_ts:
            return Status.NO_DATA, 0
        state = book.state
        if state is State.IDLE:
            if book.anchor_price is None:
                warm = book.anchor.warm_until()
                return Status.WARMING_UP, max(0, (warm or now_ms) - now_ms)
            return self.entry_gate(book, now_ms) or Status.WATCHING, 0
        if state is State.COOLDOWN:
            assert book.last_exit_ts is not None
            return Status.COOLDOWN, max(0, book.last_exit_ts + self._cooldown_ms - now_ms)
        if book.order_unknown:
            return Status.UNKNOWN, 0
        if book.buying:
            return Status.BUYING, 0
        if state is State.IN_POSITION:
            rest = book.rest_ts and book.rest_ts == book.last_ts
            return (Status.IN_POSITION_REST if rest else Status.IN_POSITION), 0
        if state in (State.EXIT_PENDING, State.EXIT_PARTIAL):
            return Status.SELLING, 0
        if state is State.RECOVERING:
            return Status.RECOVERING, 0
        return Status.ERROR, 0

    def entry_gate(self, book: SymbolBook, now_ms: int, *, deciding: bool = False) -> Status | None:
        """Why `book` may not be bought at its last price now, or None when it may.

        The one entry gate: the watchlist's status and the decision to buy both ask it.

        Args:
            book: The symbol, its last tick already applied.
            now_ms: Engine time; the last price is stale when older than `stale_after_s`
                (0 turns the guard off, as in a replay).
            deciding: A decision is being made: the trader's UTC day rolls first (the
                daily-loss protection counts from the first decision of the day).
        """
        if self.paused:
            return Status.PAUSED
        if book.symbol in self.paused_symbols:
            return Status.SYMBOL_PAUSED
        if self.circuit_open:
            return Status.CIRCUIT_OPEN
        if book.symbol in self.unexplained:
            return Status.UNEXPLAINED
        if book.symbol in self.held or self.quote_drift is not None:
            return Status.MISMATCH
        if self._stale_ms and now_ms and now_ms - book.last_ts > self._stale_ms:
            return Status.STALE
        protection = self._protection(book.last_ts, roll=deciding)
        if protection is not None:
            return protection
        if self.open_count >= self.params.max_positions:
            return Status.MAX_POSITIONS
        if self.ledger.free < self._stake_with_fee:
            return Status.BUDGET
        if self._below_minimum(book):
            return Status.BELOW_MINIMUM
        return None

    def _below_minimum(self, book: SymbolBook) -> bool:
        """Whether the stake at the last price buys less than the market's minimum.

        Floats decide the clear cases (the watchlist asks for every symbol at each
        snapshot); the exact Decimal rule decides the rest.
        """
        rules, price = book.rules, book.last_price
        if not price > 0:
            return True
        stake = self._stake_float
        step = float(rules.qty_step)
        units = stake / price
        # qty >= units - step, and qty * price >= stake - step * price; margins cover floats.
        if units - step > float(rules.min_qty) * 1.000001 + step + units * 1e-9 and (
            stake - step * price > float(rules.min_notional) * 1.000001 + stake * 1e-9
        ):
            return False
        px = dec(price)
        return rules.below_minimum(rules.entry_qty(self.params.stake, px), px) is not None

    # -- protections ---------------------------------------------------------------------

    def _roll_day(self, ts_ms: int) -> None:
        day = ts_ms // DAY_MS
        if day != self._day:
            self._day = day
            self._day_start_equity = self.ledger.realized_equity()

    def _protection(self, ts_ms: int, *, roll: bool = True) -> Status | None:
        """The account-wide protection that blocks entries now, if any.

        Both work on closed-trade equity (initial + realized pnl - fees): the daily loss
        since 00:00 UTC, and the drawdown from the highest closed-trade equity. Neither
        ever blocks an exit.
        """
        if not (self._daily_limit or self._drawdown_limit):
            return None
        equity = self.ledger.realized_equity()
        if self._drawdown_limit and (
            self._peak_equity - equity >= self._peak_equity * self._drawdown_limit
        ):
            return Status.DRAWDOWN
        if self._daily_limit:
            if roll:
                self._roll_day(ts_ms)
            elif ts_ms // DAY_MS != self._day:
                return None  # a new day that has not started yet for the trader
            start = self._day_start_equity
            if start - equity >= start * self._daily_limit and start > equity:
                return Status.DAILY_LOSS
        return None

    def reset_drawdown(self) -> None:
        """Take today's closed-trade equity as the new peak (the user resumed trading)."""
        self._peak_equity = self.ledger.realized_equity()

    # -- ticks ---------------------------------------------------------------------------

    def stale_positions(self, now_ms: int) -> list[str]:
        """Symbols in position whose last price is older than `stale_after_s` (0: none)."""
        if not self._stale_ms:
            return []
        return [
            symbol
            for symbol, book in self._books.items()
            if book.state is _IN_POSITION and now_ms - book.last_ts > self._stale_ms
        ]

    def on_rest_price(self, ts_ms: int, symbol: str, price: float) -> OrderIntent | None:
        """A price fetched by REST for a held coin whose feed went quiet: a tick like any
        other (its exits are evaluated), remembered as such for the status."""
        intent = self.on_tick(ts_ms, symbol, price)
        self._books[symbol].rest_ts = ts_ms
        return intent

    def warm(self, ts_ms: int, symbol: str, price: float) -> None:
        """Feed a historical tick: updates the anchor and last price, never trades."""
        book = self._books.get(symbol) or self.book(symbol)
        book.last_price = price
        book.last_ts = ts_ms
        book.anchor_price = book.anchor.update(ts_ms, price)

    def on_tick(self, ts_ms: int, symbol: str, price: float) -> OrderIntent | None:
        """Process one live tick; return an order to place, if any.

        This runs for every live tick and every tick of a tick-file replay, so it does as
        little as it can: most ticks end after the anchor update and one comparison.
        """
        book = self._books.get(symbol)
        if book is None:
            book = self.book(symbol)
        book.last_price = price
        book.last_ts = ts_ms
        anchor = book.anchor_price = book.anchor.update(ts_ms, price)
        return self.decide(book, ts_ms, price, anchor)

    def decide(
        self, book: SymbolBook, ts_ms: int, price: float, anchor: float | None
    ) -> OrderIntent | None:
        """`on_tick` after the book took the tick (last price and time, anchor).

        A replay calls it directly for the ticks that can matter: a coin that waits for
        an entry (idle, cooling down) with its price above anchor × `reject_above` gets
        None here whatever else holds, so such ticks need only the anchor update.
        """
        state = book.state
        if state is _IDLE:
            if anchor is None or price > anchor * self._reject_above:
                return None
        elif state is _IN_POSITION:
            reason = book.exit_due  # asked for while its buy was open, or at a restart
            if reason is not None:
                book.exit_due = None
                return self._exit(book, ts_ms, price, reason)
            watch = book.watch
            assert watch is not None
            reason = watch.check(ts_ms, price)
            if reason is None:
                return None
            return self._exit(book, ts_ms, price, reason)
        elif state is _COOLDOWN:
            assert book.last_exit_ts is not None
            if ts_ms - book.last_exit_ts < self._cooldown_ms:
                return None
            book.apply(Event.COOLDOWN_OVER)
            if anchor is None or price > anchor * self._reject_above:
                return None
        else:
            if state is _ERROR and book.watch is not None and book.exit_due is None:
                # In error, the position keeps its exits: one that fires is due, and is
                # sent once the order in doubt is settled (never two orders at once).
                book.exit_due = book.watch.check(ts_ms, price)
            return None
        drop = (anchor - price) / anchor * 100
        if drop < self._trigger:
            return None
        return self._enter(book, ts_ms, price, anchor, drop)

    def _enter(
        self, book: SymbolBook, ts_ms: int, price: float, anchor: float, drop: float
    ) -> OrderIntent | None:
        blocked = self.entry_gate(book, self.now_ms, deciding=True)
        book.blocked = blocked
        if blocked is not None:
            return None
        px = dec(price)
        qty = book.rules.entry_qty(self.params.stake, px)
        with localcontext(EXACT):
            cost = qty * px
            reserve = cost + cost * self.params.fee_rate
        cid = self._next_client_id()
        self.ledger.reserve(cid, reserve)
        book.apply(Event.ENTRY_SUBMITTED)
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
        """Ask to close a position now (manual exit); None when there is none to close.

        A symbol in error with a position is not sold now (its order is in doubt): the
        exit is due (`exit_due`) and sent once the order is settled.
        """
        book = self._books.get(symbol)
        if book is None:
            return None
        if book.state in (State.ERROR, State.RECOVERING) and book.watch is not None:
            book.exit_due = reason
            return None
        if book.buying:
            # What the open buy buys is sold once it ends (`due_exits`).
            book.exit_due = reason
            return None
        if book.state is not State.IN_POSITION:
            return None
        book.exit_due = None
        return self._exit(book, ts_ms, book.last_price, reason)

    def held_or_buying(self) -> list[str]:
        """The symbols with a position, or a buy open (sold once it ends): what an exit
        of everything sells."""
        return [s for s, b in self._books.items() if b.position is not None or b.buying]

    def exit_all_due(self, reason: ExitReason) -> list[str]:
        """Mark everything `held_or_buying` to be sold as soon as it can be (at its next
        tick, or the healer's round; a buy's coins once it ends); the symbols. A restart
        uses it when the kill switch had tripped: its sales may not all have gone.
        """
        marked = self.held_or_buying()
        for symbol in marked:
            self._books[symbol].exit_due = reason
        return marked

    def due_exits(self) -> list[str]:
        """Symbols healed back into position with an exit due: sell them now."""
        return [
            s
            for s, b in self._books.items()
            if b.exit_due is not None and b.state is State.IN_POSITION
        ]

    def in_error(self) -> list[str]:
        """Symbols in error (an order in doubt): the engine retries them."""
        return [s for s, b in self._books.items() if b.state is State.ERROR]

    def _exit(self, book: SymbolBook, ts_ms: int, price: float, reason: ExitReason) -> OrderIntent:
        position = book.position
        assert position is not None
        cid = self._next_client_id()
        book.apply(Event.EXIT_SUBMITTED)
        book.filled = ZERO
        book.exit_reason = reason
        # Sell whole steps only (a commission taken in the coin leaves a fraction): the
        # rest stays behind as dust when the sale ends.
        qty = book.rules.round_qty(position.qty)
        intent = OrderIntent(
            client_id=cid,
            symbol=book.symbol,
            side=Side.SELL,
            purpose=Purpose.EXIT,
            qty=qty if qty > 0 else position.qty,
            price=dec(price),
            ts_ms=ts_ms,
            reason=reason,
        )
        book.order = intent
        self._orders[cid] = book
        return intent

    def _next_client_id(self) -> str:
        cid = client_order_id(self.id_prefix, self.next_seq)
        self.next_seq += 1
        return cid

    # -- broker reports ------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        """Apply a (partial) execution of one of our orders."""
        book = self._orders.get(fill.client_id)
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
        self._roll_day(fill.ts_ms)
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
        equity = self.ledger.realized_equity()
        if equity > self._peak_equity:
            self._peak_equity = equity
        if position.qty > 0 and not recovering:
            book.apply(Event.EXIT_PARTIAL_FILL)

    def on_unknown(self, event: OutcomeUnknown) -> None:
        """The order's outcome is unknown until the exchange shows it: say so."""
        book = self._orders.get(event.client_id)
        if book is None or book.order is None:
            raise KeyError(f"unknown outcome of an unknown order {event.client_id}")
        book.order_unknown = True

    def on_unexplained(self, event: Unexplained) -> None:
        """Something about the order cannot be explained: no entries on its symbol."""
        book = self._orders.get(event.client_id)
        if book is None:
            raise KeyError(f"unexplained report of an unknown order {event.client_id}")
        self.unexplained[book.symbol] = event.message

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
            # Dust of an earlier position joins the new one and is sold with it.
            dust = self.dust.pop(book.symbol, None)
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
        """An order ended; returns the closed trade when this ends a position."""
        book = self._orders.pop(closed.client_id, None)
        if book is None or book.order is None:
            raise KeyError(f"close for unknown order {closed.client_id}")
        intent = book.order
        book.order = None
        book.order_unknown = False
        if intent.purpose is Purpose.ENTRY:
            self.ledger.release(closed.client_id)
        if book.state is State.RECOVERING:
            return self._finish_recovery(book, closed)
        if intent.purpose is Purpose.ENTRY:
            self._close_entry(book, closed, intent.price)
            return None
        return self._close_exit(book, closed, intent.price)

    def _close_entry(self, book: SymbolBook, closed: OrderClosed, price: Decimal) -> None:
        """An entry ended. Whether a partial buy is dust is judged at the order's price,
        which the journal holds: a restart decides exactly as the live run did."""
        if book.filled == 0:
            book.apply(Event.ENTRY_FAILED)
            book.exit_due = None  # nothing was bought: nothing to sell
            self.open_count -= 1
            return None
        position = book.position
        assert position is not None
        if closed.status is OrderStatus.FILLED:
            book.apply(Event.ENTRY_FILLED)
        elif book.rules.below_minimum(position.qty, price) is not None:
            self._to_dust(book)
            book.apply(Event.ENTRY_CLOSED_DUST)
            book.exit_due = None
            self.open_count -= 1
            return None
        else:
            book.apply(Event.ENTRY_CLOSED_PARTIAL)
        book.watch = ExitWatch(self.params.exits, float(position.entry_price), position.entry_ts_ms)
        return None

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
        return self._trade(book, position, closed)

    def _trade(self, book: SymbolBook, position: Position, closed: OrderClosed) -> Trade:
        """The round trip a sold-out position made."""
        with localcontext(DIVISION):
            exit_price = position.sold_proceeds / position.sold_qty
        with localcontext(EXACT):
            fees = position.entry_fees + position.exit_fees
            pnl = position.sold_proceeds - position.sold_basis - fees
        book.last_exit_ts = closed.ts_ms
        book.anchor.record_exit(closed.ts_ms, float(exit_price))
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
        old = self.dust.get(book.symbol)
        qty, cost = position.qty, position.cost
        if old is not None:
            qty, cost = qty + old.qty, cost + old.cost
        self.dust[book.symbol] = Dust(qty, cost)
        position.qty = ZERO
        position.cost = ZERO
        if not position.sold_qty:
            book.position = None
            book.watch = None

    def sweep_dust(self, symbol: str, price: Decimal, fee_rate: Decimal) -> Decimal:
        """Sell a symbol's dust at `price` (paper; an exchange would convert it).

        Returns:
            The quote amount credited after the fee (0 when there was no dust).
        """
        dust = self.dust.pop(symbol, None)
        if dust is None:
            return ZERO
        with localcontext(EXACT):
            proceeds = dust.qty * price
            fee = proceeds * fee_rate
        self.ledger.fill_exit(symbol, dust.cost, proceeds, fee)
        return proceeds - fee

    # -- restoring from the journal ------------------------------------------------------

    def restore_intent(self, intent: OrderIntent, exit_due: ExitReason | None = None) -> None:
        """Re-create a journaled order as if it had just been created (restart recovery).

        Its fills and closure follow through `on_fill` and `on_closed`, as they did live.
        `exit_due`: an exit asked for while this order was open (journaled with its id),
        due again: what the order bought, or did not sell, is sold once it ends.

        Raises:
            ValueError: the order does not fit the symbol's state (an exit without a
                position, an entry while in position): the journal does not add up.
        """
        book = self.book(intent.symbol)
        cid = intent.client_id
        if intent.purpose is Purpose.ENTRY:
            if book.state is State.COOLDOWN:
                book.apply(Event.COOLDOWN_OVER)
            if book.state is not State.IDLE:
                raise ValueError(f"{cid}: an entry while {intent.symbol} is {book.state.value}")
            self.ledger.reserve(cid, intent.reserved)
            book.apply(Event.ENTRY_SUBMITTED)
            self.open_count += 1
        else:
            if book.state is not State.IN_POSITION or book.position is None:
                raise ValueError(f"{cid}: an exit while {intent.symbol} is {book.state.value}")
            book.apply(Event.EXIT_SUBMITTED)
            book.exit_reason = intent.reason
        book.filled = ZERO
        book.order = intent
        if exit_due is not None:
            book.exit_due = exit_due
        self._orders[cid] = book
        seq = client_id_seq(cid)
        if seq is not None and cid.startswith(self.id_prefix):
            self.next_seq = max(self.next_seq, seq + 1)

    # -- faults and recovery -------------------------------------------------------------

    def fault(self, symbol: str, message: str) -> None:
        """Something about `symbol` cannot be explained: stop trading it until recovered.

        Its position keeps its exits: they are watched, and one that fires is due.
        """
        book = self.book(symbol)
        if book.state is not State.ERROR:
            book.apply(Event.FAULT)
        book.error = message
        position = book.position
        if book.watch is None and position is not None and position.qty > 0:
            book.watch = ExitWatch(
                self.params.exits, float(position.entry_price), position.entry_ts_ms
            )

    def recover(self, symbol: str) -> list[str]:
        """Start recovering a symbol in error.

        Returns:
            Client ids of the symbol's open orders, which the caller must cancel; their
            closure (with any late fills) completes the recovery. With no open order the
            recovery completes at once.
        """
        book = self._books.get(symbol)
        if book is None or book.state is not State.ERROR:
            raise ValueError(f"{symbol} is not in error")
        book.apply(Event.RECOVER)
        if book.order is not None:
            return [book.order.client_id]
        self._finish_recovery(book, None)
        return []

    def _finish_recovery(self, book: SymbolBook, closed: OrderClosed | None) -> Trade | None:
        """The order in doubt is settled: back in position, or flat (a sale that was in
        doubt ends its trade, which is returned)."""
        position = book.position
        trade = None
        if position is not None and position.qty > 0:
            book.apply(Event.RECOVERED_IN_POSITION)
            if book.watch is None:
                book.watch = ExitWatch(
                    self.params.exits, float(position.entry_price), position.entry_ts_ms
                )
        else:
            if position is not None and position.sold_qty and closed is not None:
                trade = self._trade(book, position, closed)
            book.apply(Event.RECOVERED_FLAT)
            book.position = None
            book.watch = None
            book.exit_due = None
        book.error = ""
        # Count open positions afresh: a fault may have struck at any step of the count.
        self.open_count = sum(
            1
            for b in self._books.values()
            if b.position is not None or (b.order is not None and b.order.purpose is Purpose.ENTRY)
        )
        return trade
