"""The order lists a restart finds (`engine/protector.py`): the journal's go back to their
positions; the exchange's that no position explains are cancelled and reported."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from tradebot_tui.core.bracket import ListState, RestingList
from tradebot_tui.core.errors import error_text
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.wording import NoticeText
from tradebot_tui.journal.store import JournaledList
from tradebot_tui.journal.writer import JournalWriter

if TYPE_CHECKING:
    from tradebot_tui.exchange.order_lists import OrderLists

log = logging.getLogger("tradebot.engine")


def restore_lists(trader: Trader, journaled: list[JournaledList], known: set[str]) -> set[str]:
    """The journal's order lists: their ids are never given again; each list still open
    goes back to its position, to be looked at first (a leg may have executed while the
    bot was down). One open for a position that is gone is taken down. Returns every id
    the lists used (the exchange's orders under them are the journal's).

    Args:
        known: The ids of the journal's orders: a list one of whose legs is among them
            was over (its leg adopted) before the restart.
    """
    ids: set[str] = set()
    for jl in journaled:
        for cid in jl.ids.all:
            trader.ids.seen(cid)
            ids.add(cid)
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
    return ids


async def cancel_orphans(
    lists: OrderLists,
    trader: Trader,
    own_prefix: str,
    writer: JournalWriter,
    notice: Callable[[NoticeText], None],
) -> None:
    """Cancel the account's open lists of this journal that no position explains (the
    position was sold by hand, or the journal does not know the list), and report each."""
    try:
        found = await lists.open_lists(own_prefix)
    except trio.Cancelled:
        raise
    except Exception as exc:
        log.warning("open order lists not read: %s", error_text(exc))
        return
    resting = {
        b.resting.ids.list_id
        for b in trader.books.values()
        if b.resting is not None and b.position is not None
    }
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
        log.warning(message)
        writer.event("protection", message, symbol)
        notice(wording.protection_notice(symbol, message))
