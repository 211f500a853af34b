"""The exits a position rests on the exchange with `exits.on_exchange`: an OCO order list
of a take-profit leg (LIMIT_MAKER) and a stop leg (STOP_LOSS_LIMIT), its prices at the
market's tick, and what a tick does to it (docs/architecture.md, "Protection on the
exchange").

The legs stand where the reference exit rules fire, rounded onto the market's price grid
the only way that keeps the rule: the take-profit up to the tick (a price on the grid is
at or above the threshold exactly when it is at or above the rounded price), the stop down
(at or below). The stop leg follows the trailing stop once it is armed and above the
stop-loss. So on prices on the grid a leg triggers on the very tick the reference rule
fires, and what differs is how the leg executes:

- the take-profit leg is a resting limit order: it fills at its own price, not at the
  tick that crossed it;
- the stop leg, once triggered, is a limit order at `stop_limit` (`stop_limit_gap_pct`
  below its stop): it fills at the tick's price when that is at or above the limit, and
  rests unfilled when the price gapped through it; the bot then sells at market
  (`ExitReason.EMERGENCY_EXIT`), once.

Max hold and every exit asked for (manual, Telegram, the kill switch) stay in the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import Enum
from typing import TYPE_CHECKING

from tradebot_tui.core.exits import ExitParams, ExitReason, ExitWatch
from tradebot_tui.core.identity import OrderIds
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import DIVISION, dec
from tradebot_tui.core.orders import OrderKind, Purpose

if TYPE_CHECKING:  # the book holds a `RestingList`
    from tradebot_tui.core.book import SymbolBook

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Bracket:
    """The order list protecting one position.

    Attributes:
        qty: What both legs sell: the holding rounded down to the market's step.
        take_price: The take-profit leg's limit price (LIMIT_MAKER).
        stop_price: The stop leg's trigger (STOP_LOSS_LIMIT).
        stop_limit: The stop leg's limit once triggered.
        trailing: The stop leg stands at the trailing stop, not at the stop-loss.
    """

    qty: Decimal
    take_price: Decimal
    stop_price: Decimal
    stop_limit: Decimal
    trailing: bool


def bracket_for(
    qty: Decimal, rules: MarketRules, watch: ExitWatch, params: ExitParams
) -> Bracket | str:
    """The order list that protects `qty` now, or why none can rest on the exchange."""
    qty = rules.round_qty(qty)
    take = rules.round_price_up(dec(watch.take_price))
    level = watch.stop_level()
    stop = rules.round_price(dec(level))
    with localcontext(DIVISION):
        limit = rules.round_price(stop * (1 - dec(params.stop_limit_gap_pct) / HUNDRED))
    if limit <= 0:
        return "the stop leg's limit rounds to zero"
    why = rules.below_minimum(qty, limit)
    if why is not None:
        return why
    return Bracket(qty, take, stop, limit, level != watch.stop_price)


@dataclass(frozen=True, slots=True)
class LegExit:
    """What a tick that fired an exit rule does to the resting list: the sale it makes."""

    kind: OrderKind
    price: Decimal  # the fill's price
    emergency: bool = False  # the stop leg rests unfilled below its limit: sell at market


def leg_exit(bracket: Bracket, price: float, *, take: bool) -> LegExit | None:
    """The sale the list makes at `price` when the take-profit (`take`) or a stop rule
    fired there, or None when the price has not reached the leg (a price off the grid,
    between the reference threshold and the rounded leg)."""
    px = dec(price)
    if take:
        if px < bracket.take_price:
            return None
        return LegExit(OrderKind.LIMIT_MAKER, bracket.take_price)
    if px > bracket.stop_price:
        return None
    if px >= bracket.stop_limit:
        return LegExit(OrderKind.STOP_LOSS_LIMIT, px)
    return LegExit(OrderKind.MARKET, px, emergency=True)


# -- a list resting on a real exchange (live) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListIds:
    """The client ids of one order list: the list's, the take-profit leg's (above) and
    the stop leg's (below). Each comes from the trader's id sequence: never reused."""

    list_id: str
    above: str
    below: str

    @classmethod
    def new(cls, ids: OrderIds) -> ListIds:
        return cls(ids.next(), ids.next(), ids.next())

    @property
    def all(self) -> tuple[str, str, str]:
        return (self.list_id, self.above, self.below)


class ListState(Enum):
    """Where a live position's order list stands (`engine/protector.py`)."""

    PLACING = "placing"  # journaled; sent, or its answer lost: looked up, never resent
    RESTING = "resting"  # the exchange holds it
    CANCELLING = "cancelling"  # a cancel is on its way (an exit of the bot's, a replace)


@dataclass(slots=True)
class RestingList:
    """The order list a live position rests on, as the bot knows it.

    Attributes:
        ids: Its ids (journaled before it was sent).
        bracket: What it sells and at which prices.
        journaled_ms: When it was journaled (wall clock): a leg found on the exchange is
            ours only if created after that.
        state: Placing, resting or being cancelled.
        crossed: A tick reached a leg: the exchange may have executed it; its legs are
            looked at.
    """

    ids: ListIds
    bracket: Bracket
    journaled_ms: int
    state: ListState = ListState.PLACING
    crossed: bool = False


def position_bracket(book: SymbolBook, params: ExitParams) -> Bracket | str | None:
    """The order list `book`'s position should rest on now (or why none can); None when
    nothing is held. While its buy still fills: for what it bought so far, at the exits it
    will have (a list grows with the buy)."""
    position = book.position
    if position is None:
        return None
    watch = book.watch
    if watch is None:
        if not book.buying:
            return None
        watch = ExitWatch(params, float(position.entry_price), position.entry_ts_ms)
    return bracket_for(position.qty, book.rules, watch, params)


def protection_of(book: SymbolBook, params: ExitParams, *, live: bool) -> Bracket | str | None:
    """The list protecting `book`'s position, or why none does: live, what the exchange
    holds (not what it should); in paper and replay, the modelled one."""
    if not live:
        return position_bracket(book, params)
    if book.position is None or book.watch is None:
        return None
    resting = book.resting
    if resting is not None and resting.state is ListState.RESTING:
        return resting.bracket
    if resting is not None:
        return f"order list {resting.state.value}"
    order = book.order
    if order is not None and order.purpose is Purpose.EXIT:
        return None  # being sold: nothing to protect
    return book.protect_note or "not placed yet"


@dataclass(frozen=True, slots=True)
class LegSale:
    """The sale a leg of a resting list made on the exchange, as the bot books it."""

    client_id: str
    reason: ExitReason
    kind: OrderKind
    price: Decimal


def executed_leg(resting: RestingList, take: bool) -> LegSale:
    """The take-profit leg's sale (`take`), or the stop leg's."""
    bracket = resting.bracket
    if take:
        return LegSale(
            resting.ids.above, ExitReason.TAKE_PROFIT, OrderKind.LIMIT_MAKER, bracket.take_price
        )
    reason = ExitReason.TRAILING_STOP if bracket.trailing else ExitReason.STOP_LOSS
    return LegSale(resting.ids.below, reason, OrderKind.STOP_LOSS_LIMIT, bracket.stop_limit)
