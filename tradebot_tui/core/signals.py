"""Signals and decisions: what each tick means for its symbol.

A drop of `trigger_pct` below the anchor buys when the gate and the rules let it; a held
symbol is sold at the first exit rule its tick meets (or an exit asked for meanwhile).
Replay, paper and live run this same code on every tick, so it does as little as it
can: most ticks end after the anchor update and one comparison.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from tradebot_tui.core.book import SymbolBook
from tradebot_tui.core.bracket import (
    Bracket,
    ListState,
    executed_leg,
    leg_exit,
    position_bracket,
    protection_of,
)
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import EntryGate
from tradebot_tui.core.identity import OrderIds
from tradebot_tui.core.lifecycle import Event, State
from tradebot_tui.core.money import EXACT, ZERO, dec
from tradebot_tui.core.orders import OrderIntent, OrderKind, Purpose, Side
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.positions import Positions
from tradebot_tui.core.protections import Protections
from tradebot_tui.core.status import Status

_IDLE = State.IDLE
_IN_POSITION = State.IN_POSITION
_COOLDOWN = State.COOLDOWN
_ERROR = State.ERROR
# Refusals that only an executed order can lift: the position count and the budget move
# with orders alone. A replay need not decide a coin refused so again until one is
# executed; the daily loss limit's day starts the same without those decisions (its
# equity moves only at fills, and the decision or sale before each fill starts the day).
ORDER_LIFTED = (Status.MAX_POSITIONS, Status.BUDGET)


class Signals:
    """Turns ticks into orders: entries on a drop, exits by the position's rules."""

    def __init__(
        self,
        positions: Positions,
        gate: EntryGate,
        protections: Protections,
        ids: OrderIds,
        params: StrategyParams,
    ) -> None:
        self._positions = positions
        self._books = positions.books
        self._gate = gate
        self._protections = protections
        self._ids = ids
        # Engine time (ms) for the stale-price guard; 0 (replay) turns the guard off.
        self.now_ms = 0
        # Entries refused for an `ORDER_LIFTED` reason so far: a replay tells from it
        # whether a decision was such a refusal.
        self.order_refusals = 0
        # Live with `exits.on_exchange`: the exchange executes the legs (the engine's
        # protector books them); paper and replay model them here.
        self.legs_live = False
        self.set_params(params)

    def set_params(self, params: StrategyParams) -> None:
        """The thresholds of `params` from now on (the trader restarts the anchors)."""
        self.params = params
        self.cooldown_ms = params.cooldown_s * 1000
        self._stale_ms = params.stale_after_s * 1000
        self._trigger = params.trigger_pct
        # A price above this cannot be a trigger; the exact formula decides below it.
        self._reject_above = 1 - params.trigger_pct / 100 * (1 - 1e-9)
        with localcontext(EXACT):
            self._stake_with_fee = params.stake + params.stake * params.fee_rate
        self._stake_float = float(params.stake)
        self._on_exchange = params.exits.on_exchange

    @property
    def reject_above(self) -> float:
        """A tick priced above anchor × this is never an entry: `on_tick` rejects it before
        the exact drop formula (replays that skip such ticks rely on it)."""
        return self._reject_above

    # -- what a symbol is doing --------------------------------------------------------------

    def status(self, symbol: str, now_ms: int) -> tuple[Status, int]:
        """The symbol's status and, for timed ones, the milliseconds left (else 0).

        An idle symbol shows what `why_not_buy` says, the very check a decision makes
        before it buys: the reason shown is the reason the trader refuses.
        """
        book = self._books.get(symbol)
        if book is None or not book.last_ts:
            return Status.NO_DATA, 0
        state = book.state
        if state is State.IDLE:
            if book.anchor_price is None:
                warm = book.anchor.warm_until()
                return Status.WARMING_UP, max(0, (warm or now_ms) - now_ms)
            return self.why_not_buy(book, now_ms) or Status.WATCHING, 0
        if state is State.COOLDOWN:
            assert book.last_exit_ts is not None
            return Status.COOLDOWN, max(0, book.last_exit_ts + self.cooldown_ms - now_ms)
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

    def why_not_buy(
        self, book: SymbolBook, now_ms: int, *, deciding: bool = False
    ) -> Status | None:
        """Why `book` may not be bought at its last price now, or None when it may.

        The one entry check: the watchlist's status and the decision to buy both ask it.
        The gate's pauses first, then the price's age, the protections, the position
        count, the budget and the market's minimums.

        Args:
            book: The symbol, its last tick already applied.
            now_ms: Engine time; the last price is stale when older than `stale_after_s`
                (0 turns the guard off, as in a replay).
            deciding: A decision is being made: the UTC day rolls first (the daily-loss
                protection counts from the first decision of the day).
        """
        paused = self._gate.blocks(book.symbol)
        if paused is not None:
            return paused
        if self._stale_ms and now_ms and now_ms - book.last_ts > self._stale_ms:
            return Status.STALE
        protection = self._protections.blocks(book.last_ts, roll=deciding)
        if protection is not None:
            return protection
        if self._positions.open_count >= self.params.max_positions:
            return Status.MAX_POSITIONS
        if self._positions.ledger.free < self._stake_with_fee:
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

    def stale_positions(self, now_ms: int) -> list[str]:
        """Symbols in position whose last price is older than `stale_after_s` (0: none)."""
        if not self._stale_ms:
            return []
        return [
            symbol
            for symbol, book in self._books.items()
            if book.state is _IN_POSITION and now_ms - book.last_ts > self._stale_ms
        ]

    # -- ticks -------------------------------------------------------------------------------

    def warm(self, ts_ms: int, symbol: str, price: float) -> None:
        """Feed a historical tick: updates the anchor and last price, never trades."""
        book = self._books.get(symbol) or self._positions.book(symbol)
        book.last_price = price
        book.last_ts = ts_ms
        book.anchor_price = book.anchor.update(ts_ms, price)

    def on_rest_price(self, ts_ms: int, symbol: str, price: float) -> OrderIntent | None:
        """A price fetched by REST for a held coin whose feed went quiet: a tick like any
        other (its exits are evaluated), remembered as such for the status."""
        intent = self.on_tick(ts_ms, symbol, price)
        self._books[symbol].rest_ts = ts_ms
        return intent

    def on_tick(self, ts_ms: int, symbol: str, price: float) -> OrderIntent | None:
        """Process one live tick; return an order to place, if any."""
        book = self._books.get(symbol)
        if book is None:
            book = self._positions.book(symbol)
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
                if book.resting is not None:
                    return None  # its list is cancelled first (engine/protector.py)
                book.exit_due = None
                return self._exit(book, ts_ms, price, reason)
            watch = book.watch
            assert watch is not None
            reason = watch.check(ts_ms, price)
            if reason is None:
                return None
            if book.resting is not None:  # live: the list resting on the exchange acts
                self._live_list(book, price, reason)
                return None
            if self._on_exchange and not self.legs_live and reason is not ExitReason.MAX_HOLD:
                return self._leg_exit(book, ts_ms, price, reason)
            return self._exit(book, ts_ms, price, reason)
        elif state is _COOLDOWN:
            assert book.last_exit_ts is not None
            if ts_ms - book.last_exit_ts < self.cooldown_ms:
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
        blocked = self.why_not_buy(book, self.now_ms, deciding=True)
        book.blocked = blocked
        if blocked is not None:
            if blocked in ORDER_LIFTED:
                self.order_refusals += 1
            return None
        px = dec(price)
        qty = book.rules.entry_qty(self.params.stake, px)
        with localcontext(EXACT):
            cost = qty * px
            reserve = cost + cost * self.params.fee_rate
        cid = self._ids.next()
        positions = self._positions
        positions.ledger.reserve(cid, reserve)
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
        positions.register(book, intent)
        positions.open_count += 1
        return intent

    # -- exits asked for -----------------------------------------------------------------------

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
        if book.resting is not None:
            # A list rests on the exchange: it is cancelled first, and only what it did
            # not sell meanwhile is sold (engine/protector.py).
            book.exit_due = reason
            return None
        book.exit_due = None
        return self._exit(book, ts_ms, book.last_price, reason)

    def exit_all_due(self, reason: ExitReason) -> list[str]:
        """Mark everything `held_or_buying` to be sold as soon as it can be (at its next
        tick, or the healer's round; a buy's coins once it ends); the symbols. A restart
        uses it when the kill switch had tripped: its sales may not all have gone.
        """
        marked = self._positions.held_or_buying()
        for symbol in marked:
            self._books[symbol].exit_due = reason
        return marked

    def due_exits(self) -> list[str]:
        """Symbols healed back into position with an exit due: sell them now."""
        return [
            s
            for s, b in self._books.items()
            if b.exit_due is not None and b.state is State.IN_POSITION and b.resting is None
        ]

    def protection(self, book: SymbolBook) -> Bracket | str | None:
        """The order list resting for `book`'s position (or why none does), None when
        exits are not kept on the exchange or nothing is held."""
        if not self._on_exchange:
            return None
        return protection_of(book, self.params.exits, live=self.legs_live)

    def bracket(self, book: SymbolBook) -> Bracket | str | None:
        """The order list `book`'s position should rest on now (or why none can)."""
        return position_bracket(book, self.params.exits)

    def _live_list(self, book: SymbolBook, price: float, reason: ExitReason) -> None:
        """An exit rule fired live while a list rests on the exchange: the exchange makes
        the leg's sale. The tick only marks its legs to be looked at; max hold, and a price
        that gapped below the stop leg's limit (the emergency exit), make the bot's own
        exit due: the list is cancelled first, then what it did not sell is sold at market
        (`engine/protector.py`)."""
        resting = book.resting
        assert resting is not None
        if reason is ExitReason.MAX_HOLD:
            book.exit_due = reason
            return
        sale = leg_exit(resting.bracket, price, take=reason is ExitReason.TAKE_PROFIT)
        if sale is None:
            return
        if sale.emergency and resting.state is ListState.RESTING:
            book.exit_due = ExitReason.EMERGENCY_EXIT
        else:
            resting.crossed = True

    def _leg_exit(
        self, book: SymbolBook, ts_ms: int, price: float, reason: ExitReason
    ) -> OrderIntent | None:
        """A stop or take-profit rule fired with the exits resting on the exchange, in
        paper or replay: the sale the order list makes (docs/architecture.md, "Protection
        on the exchange")."""
        bracket = self.bracket(book)
        if not isinstance(bracket, Bracket):  # nothing rests: the process sells, as ever
            return self._exit(book, ts_ms, price, reason)
        sale = leg_exit(bracket, price, take=reason is ExitReason.TAKE_PROFIT)
        if sale is None:
            return None
        if sale.emergency:
            reason = ExitReason.EMERGENCY_EXIT
        return self._exit(book, ts_ms, price, reason, kind=sale.kind, sale_price=sale.price)

    def _exit(
        self,
        book: SymbolBook,
        ts_ms: int,
        price: float,
        reason: ExitReason,
        *,
        kind: OrderKind = OrderKind.MARKET,
        sale_price: Decimal | None = None,
        leg: tuple[str, Decimal] | None = None,
    ) -> OrderIntent:
        position = book.position
        assert position is not None
        book.apply(Event.EXIT_SUBMITTED)
        book.filled = ZERO
        book.exit_reason = reason
        if leg is not None:  # a leg the exchange executed: its id, its amount
            cid, qty = leg
        else:
            cid = self._ids.next()
            # Sell whole steps only (a commission taken in the coin leaves a fraction):
            # the rest stays behind as dust when the sale ends.
            qty = book.rules.round_qty(position.qty)
        intent = OrderIntent(
            client_id=cid,
            symbol=book.symbol,
            side=Side.SELL,
            purpose=Purpose.EXIT,
            qty=qty if qty > 0 else position.qty,
            price=dec(price) if sale_price is None else sale_price,
            ts_ms=ts_ms,
            reason=reason,
            kind=kind,
        )
        self._positions.register(book, intent)
        return intent

    def adopt_leg(self, book: SymbolBook, take: bool, ts_ms: int) -> OrderIntent:
        """The exit a leg of `book`'s resting list made on the exchange (live): an order
        under the leg's own id, for the list's amount, that the engine follows and books
        like any other. The list is over with it (an OCO's other leg expires)."""
        resting = book.resting
        assert resting is not None
        book.resting = None
        sale = executed_leg(resting, take)
        return self._exit(
            book,
            ts_ms,
            float(sale.price),
            sale.reason,
            kind=sale.kind,
            sale_price=sale.price,
            leg=(sale.client_id, resting.bracket.qty),
        )
