"""The order lists a restart finds (`engine/protector.py`): the journal's go back to their
positions; the exchange's that no position explains are cancelled and reported."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import trio

from tradebot_tui.core.bracket import ListState, RestingList
from tradebot_tui.core.errors import error_text
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.wording import NoticeText
from tradebot_tui.journal.store import JournaledList
from tradebot_tui.journal.writer import JournalWriter

if TYPE_CHECKING:
    from tradebot_tui.exchange.order_lists import OrderLists

log = logging.getLogger("tradebot.engine")


def list_ids(trader: Trader, journaled: list[JournaledList]) -> set[str]:
    """Every id the journal's order lists used: never given again, and the exchange's
    orders under them are the journal's own."""
    ids: set[str] = set()
    for jl in journaled:
        for cid in jl.ids.all:
            trader.ids.seen(cid)
            ids.add(cid)
    return ids


def restore_lists(
    trader: Trader,
    journaled: list[JournaledList],
    known: set[str],
    asked: Mapping[str, ExitReason],
) -> None:
    """Each list the journal holds open goes back to its position, to be looked at first
    (a leg may have executed while the bot was down); one for a position that is gone is
    taken down.

    Args:
        known: The ids of the journal's orders: a list one of whose legs is among them
            was over (its leg adopted) before the restart.
        asked: Exits asked for, by the id of what was open then (a list's, here): due
            again, so the list is cancelled and the rest sold.
    """
    for jl in journaled:
        if not jl.open or jl.ids.above in known or jl.ids.below in known:
            continue
        book = trader.book(jl.symbol)
        if book.position is None:
            log.warning(
                "order list %s (%s) is open in the journal for a position that is gone: "
                "it is cancelled",
                jl.ids.list_id,
                jl.symbol,
            )
        state = ListState.PLACING if jl.status == "placing" else ListState.RESTING
        book.resting = RestingList(jl.ids, jl.bracket, jl.journaled_ms, state, crossed=True)
        due = asked.get(jl.ids.list_id)
        if due is not None and book.position is not None:
            book.exit_due = due


def report(
    writer: JournalWriter, notice: Callable[[NoticeText], None], symbol: str, message: str
) -> None:
    """Something happened to a list that the bot did not do: logged, journaled, shown."""
    log.warning(message)
    writer.event("protection", message, symbol)
    notice(wording.protection_notice(symbol, message))


async def cancel_orphans(
    lists: OrderLists,
    trader: Trader,
    own_prefix: str,
    writer: JournalWriter,
    notice: Callable[[NoticeText], None],
) -> None:
    """Cancel the account's open lists of this journal that the journal does not hold
    open (its record of them ended), and report each."""
    try:
        found = await lists.open_lists(own_prefix)
    except trio.Cancelled:
        raise
    except Exception as exc:
        log.warning("open order lists not read: %s", error_text(exc))
        return
    # Lists the journal knows are its positions' (or, for a position gone, taken down by
    # the protector, which books what a leg sold): only the others are cancelled here.
    resting = {b.resting.ids.list_id for b in trader.books.values() if b.resting is not None}
    for listed in found:
        if listed.client_id in resting:
            continue
        symbol = str(lists.client.exchange.safe_symbol(listed.symbol_id))
        message = (
            f"order list {listed.client_id} rests on the exchange for no position of the "
            "bot (sold by hand?): cancelled"
        )
        try:
            await lists.cancel(symbol, listed.client_id)
        except trio.Cancelled:
            raise
        except Exception as exc:
            message = f"order list {listed.client_id}: cancelling it failed: {error_text(exc)}"
        report(writer, notice, symbol, message)
