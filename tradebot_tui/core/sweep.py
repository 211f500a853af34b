"""Sweeping dust: what the bot holds of a coin below the market's minimum, converted on
the exchange (Binance's small-asset conversion to BNB), as one order a coin
(docs/live-trading.md, "Dust").

A conversion is an exit like any other sale, so that the write-ahead journal, the
no-order-twice rules, a restart and the trade history treat it as they treat a sale: the
coin's dust becomes its position for the time of the order (`take_dust`), the order
(`OrderKind.DUST_CONVERT`, `ExitReason.DUST_CONVERTED`) sells it, and its fill is at a
price of zero: the conversion pays in BNB, never in the quote currency, so the quote
balance the ledger follows receives nothing, and the dust's cost is booked as the trade's
loss. What the exchange gave in BNB is in the order's closing message. What the exchange
did not convert goes back to the dust.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from tradebot_tui.core.book import Position, SymbolBook
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import CoinHold, EntryGate
from tradebot_tui.core.identity import OrderIds
from tradebot_tui.core.lifecycle import Event, State
from tradebot_tui.core.market import split_symbol
from tradebot_tui.core.money import DIVISION, EXACT, ZERO, dec, fmt_decimal
from tradebot_tui.core.orders import (
    BrokerEvent,
    Fill,
    OrderClosed,
    OrderIntent,
    OrderKind,
    OrderStatus,
    Purpose,
    Side,
)
from tradebot_tui.core.positions import Positions

# What the conversion pays in: never converted into itself (a "BNB/BNB" market).
PAID_IN = "BNB"
# Binance's service charge on the conversion (its `dribbletPercentage`): the paper model's.
PAPER_CHARGE = Decimal("0.02")
EIGHT_PLACES = Decimal("0.00000001")  # what the paper message shows of the value


def why_not_convert(positions: Positions, gate: EntryGate, symbol: str, quote: str) -> str | None:
    """Why the dust of `symbol` cannot be converted now, or None when it can."""
    book = positions.books.get(symbol)
    dust = positions.dust.get(symbol)
    if dust is None or dust.qty <= 0:
        return "no dust"
    if book is None:
        return "no price seen yet"
    base = book.rules.base
    if base == quote:
        return f"{base} is the quote currency"
    if base == PAID_IN:
        return f"{base} is what the conversion pays in"
    if book.order is not None:
        return "an order of it is open"
    if book.state not in (State.IDLE, State.COOLDOWN):
        return f"it is {book.state.value.replace('_', ' ')}: its dust is sold with it"
    held = gate.held(CoinHold.UNEXPLAINED).get(symbol) or gate.held(CoinHold.MISMATCH).get(symbol)
    if held:
        return f"held: {held}"
    return None


def why_not_on_account(
    base: str, qty: Decimal, free: Decimal, locked: Decimal, step: Decimal
) -> str | None:
    """Why the account's holding of `base` (`free`, `locked`) forbids converting the
    bot's dust (`qty`): a conversion takes the whole free balance, so that balance must be
    the bot's dust, to a step, and nothing of the coin may be in an order."""
    if locked > 0:
        return f"{fmt_decimal(locked)} {base} is locked in an open order on the exchange"
    if free < qty:
        return f"the account holds {fmt_decimal(free)} {base}, less than the dust"
    if free - qty >= step:
        return (
            f"the account holds {fmt_decimal(free)} {base}, more than the bot's dust "
            f"({fmt_decimal(qty)}): the conversion would take it all"
        )
    return None


def take_dust(positions: Positions, book: SymbolBook, ts_ms: int) -> Position:
    """The coin's dust becomes its position, at its cost, for the conversion's order."""
    dust = positions.dust.take(book.symbol)
    if dust is None:
        raise ValueError(f"{book.symbol}: no dust to convert")
    book.apply(Event.DUST_SUBMITTED)
    position = book.position = Position(
        symbol=book.symbol,
        qty=dust.qty,
        cost=dust.cost,
        entry_fees=ZERO,
        entry_ts_ms=ts_ms,
        bought_qty=dust.qty,
        bought_cost=dust.cost,
    )
    book.filled = ZERO
    book.exit_reason = ExitReason.DUST_CONVERTED
    positions.open_count += 1
    return position


def convert_intent(positions: Positions, ids: OrderIds, symbol: str, ts_ms: int) -> OrderIntent:
    """The order converting the dust of `symbol` (checked with `why_not_convert` first):
    all of it, valued at the last price (what the paper model converts at)."""
    book = positions.books[symbol]
    position = take_dust(positions, book, ts_ms)
    intent = OrderIntent(
        client_id=ids.next(),
        symbol=symbol,
        side=Side.SELL,
        purpose=Purpose.EXIT,
        qty=position.qty,
        price=dec(book.last_price) if book.last_price else position.entry_price,
        ts_ms=ts_ms,
        reason=ExitReason.DUST_CONVERTED,
        kind=OrderKind.DUST_CONVERT,
    )
    positions.register(book, intent)
    return intent


def converted(intent: OrderIntent, qty: Decimal, ts_ms: int, message: str) -> list[BrokerEvent]:
    """The reports of a conversion of `qty` (the quote receives nothing: price zero)."""
    events: list[BrokerEvent] = []
    if qty > 0:
        events.append(Fill(intent.client_id, qty, ZERO, ZERO, ts_ms))
    events.append(OrderClosed(intent.client_id, OrderStatus.FILLED, ts_ms, message))
    return events


def paper_conversion(intent: OrderIntent) -> list[BrokerEvent]:
    """Paper trading's conversion: all of the dust, at once. No BNB is modelled; the
    closing message says what it would have brought, at the last price less Binance's
    charge."""
    with localcontext(EXACT):
        worth = intent.qty * intent.price * (1 - PAPER_CHARGE)
    with localcontext(DIVISION):
        shown = fmt_decimal(worth.quantize(EIGHT_PLACES))
    message = f"converted to BNB (paper): worth about {shown} {split_symbol(intent.symbol)[1]}"
    return converted(intent, intent.qty, intent.ts_ms, message)
