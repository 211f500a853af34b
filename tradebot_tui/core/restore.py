"""Faults and restoring: symbols whose orders are in doubt, and orders the journal holds.

A fault stops trading a symbol until its order in doubt is settled (its position keeps
its exits meanwhile); `recover` starts settling it. At a restart every journaled order
is re-created here as if it had just been made, and its fills and closure follow
through the positions as they did live.
"""

from __future__ import annotations

from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.identity import OrderIds
from tradebot_tui.core.lifecycle import Event, State
from tradebot_tui.core.money import ZERO
from tradebot_tui.core.orders import OrderIntent, OrderKind, Purpose
from tradebot_tui.core.positions import Positions
from tradebot_tui.core.sweep import take_dust


class Restorer:
    """Faults, recoveries and journaled orders of one trader's positions."""

    def __init__(self, positions: Positions, ids: OrderIds) -> None:
        self._positions = positions
        self._ids = ids

    def restore_intent(self, intent: OrderIntent, exit_due: ExitReason | None = None) -> None:
        """Re-create a journaled order as if it had just been created (restart recovery).

        Its fills and closure follow through `on_fill` and `on_closed`, as they did live.
        `exit_due`: an exit asked for while this order was open (journaled with its id),
        due again: what the order bought, or did not sell, is sold once it ends.

        Raises:
            ValueError: the order does not fit the symbol's state (an exit without a
                position, an entry while in position): the journal does not add up.
        """
        positions = self._positions
        book = positions.book(intent.symbol)
        cid = intent.client_id
        if intent.purpose is Purpose.ENTRY:
            if book.state is State.COOLDOWN:
                book.apply(Event.COOLDOWN_OVER)
            if book.state is not State.IDLE:
                raise ValueError(f"{cid}: an entry while {intent.symbol} is {book.state.value}")
            positions.ledger.reserve(cid, intent.reserved)
            book.apply(Event.ENTRY_SUBMITTED)
            positions.open_count += 1
        elif intent.kind is OrderKind.DUST_CONVERT:
            if (
                book.state not in (State.IDLE, State.COOLDOWN)
                or intent.symbol not in positions.dust
            ):
                raise ValueError(f"{cid}: a dust conversion while {intent.symbol} has no dust")
            take_dust(positions, book, intent.ts_ms)
        else:
            if book.state is not State.IN_POSITION or book.position is None:
                raise ValueError(f"{cid}: an exit while {intent.symbol} is {book.state.value}")
            book.apply(Event.EXIT_SUBMITTED)
            book.exit_reason = intent.reason
        book.filled = ZERO
        if exit_due is not None:
            book.exit_due = exit_due
        positions.register(book, intent)
        self._ids.seen(cid)

    def fault(self, symbol: str, message: str) -> None:
        """Something about `symbol` cannot be explained: stop trading it until recovered.

        Its position keeps its exits: they are watched, and one that fires is due.
        """
        positions = self._positions
        book = positions.book(symbol)
        if book.state is not State.ERROR:
            book.apply(Event.FAULT)
        book.error = message
        position = book.position
        if book.watch is None and position is not None and position.qty > 0:
            book.watch = positions.exit_watch(position)

    def recover(self, symbol: str) -> list[str]:
        """Start recovering a symbol in error.

        Returns:
            Client ids of the symbol's open orders, which the caller must cancel; their
            closure (with any late fills) completes the recovery. With no open order the
            recovery completes at once.

        Raises:
            ValueError: the symbol is not in error.
        """
        positions = self._positions
        book = positions.books.get(symbol)
        if book is None or book.state is not State.ERROR:
            raise ValueError(f"{symbol} is not in error")
        book.apply(Event.RECOVER)
        if book.order is not None:
            return [book.order.client_id]
        positions.finish_recovery(book, None)
        return []
