"""Exits resting on the exchange, live (`exits.on_exchange`): each held position gets an
OCO order list, kept in step with the bot (docs/architecture.md, "Protection on the
exchange").

One round every `period_s` looks at each coin and starts at most one job for it:

- a position with nothing resting gets its list: journaled first (three new ids, never
  used again), then sent once; a lost answer is looked up until the exchange's lagging
  query had time to show it, never sent again;
- a list one of whose legs the exchange executed (pushed by the user data stream, or seen
  by querying its legs when the price reached a leg, or every `check_s`) is over: that leg
  becomes the position's exit order, under the leg's own id, followed and booked like any
  other (so a fill is booked once, whichever report brings it);
- an exit of the bot's own (max hold, `e`/`E`, Telegram, the kill switch, the emergency
  exit of a price that gapped below the stop leg's limit) cancels the list first, then
  looks at its legs: what a leg sold meanwhile is booked, and only the rest is sold;
- the trailing stop, once armed and a tick higher than the resting stop leg, moves it:
  the list is cancelled and placed again (new ids), at most once every `replace_s`;
- a list that ended on the exchange with no leg executed (cancelled by hand) is placed
  again; one refused is retried after `retry_s`, its reason shown.

At a restart the journal's open lists go back to their positions, each looked at before
anything else is done; an open list of ours that no position explains is cancelled and
reported (`protector_restart`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.book import SymbolBook
from tradebot_tui.core.bracket import Bracket, ListIds, ListState, RestingList
from tradebot_tui.core.errors import error_text
from tradebot_tui.core.gate import CoinHold
from tradebot_tui.core.identity import client_id_prefix
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.money import fmt_decimal
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.context import Context, wall_ms
from tradebot_tui.engine.protector_restart import cancel_orphans, report
from tradebot_tui.engine.router import OrderRouter
from tradebot_tui.exchange import crashpoints
from tradebot_tui.exchange.base import Broker, RestsOrderLists
from tradebot_tui.exchange.order_lists import (
    ExchangeList,
    ListAbsent,
    ListInDoubt,
    ListRefused,
    OrderLists,
)
from tradebot_tui.journal.store import Journal, JournalError
from tradebot_tui.journal.writer import JournalWriter

if TYPE_CHECKING:
    from tradebot_tui.exchange.reports import ExchangeOrder
    from tradebot_tui.exchange.user_stream import PushedOrders

log = logging.getLogger("tradebot.engine")

# Binance's words for a list refused for where the price stands at that moment (-2010):
# tried again after PRICE_RETRY_S, once the price may have moved.
PRICE_REFUSALS = ("relationship of the prices", "would immediately match")
PRICE_RETRY_S = 1.0

Job = Callable[[SymbolBook, RestingList | None], Awaitable[None]]


class Protector:
    """Keeps every live position's take-profit and stop-loss resting on the exchange."""

    def __init__(
        self,
        trader: Trader,
        router: OrderRouter,
        lists: OrderLists,
        writer: JournalWriter,
        context: Context,
        *,
        own_prefix: str,
        pushed: PushedOrders | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        period_s: float = 0.1,
        check_s: float = 5.0,
        replace_s: float = 2.0,
        retry_s: float = 30.0,
    ) -> None:
        self._trader = trader
        self._router = router
        self._lists = lists
        self._writer = writer
        self._context = context
        self._own_prefix = own_prefix
        self._pushed = pushed
        self._clock_ms = clock_ms
        self.period_s = period_s
        self.check_s = check_s
        self.replace_s = replace_s
        self.retry_s = retry_s
        self._busy: set[str] = set()
        self._not_before: dict[str, float] = {}  # a coin's next job waits until then
        self._checked: dict[str, float] = {}  # when each coin's list was last looked at
        self._replaced: dict[str, float] = {}
        # The last pushed version looked at, of each leg's state and each list's status.
        self._seen_push: dict[str, int] = {}

    # -- the rounds ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the positions protected until cancelled."""
        await cancel_orphans(
            self._lists, self._trader, self._own_prefix, self._writer, self._context.notice
        )
        async with trio.open_nursery() as nursery:
            while True:
                self.step(nursery)
                await trio.sleep(self.period_s)

    def step(self, nursery: trio.Nursery) -> None:
        """Start the job each coin needs now (one at a time per coin)."""
        now = trio.current_time()
        for symbol, book in list(self._trader.books.items()):
            if symbol in self._busy or now < self._not_before.get(symbol, 0.0):
                continue
            job = self._job(book, now)
            if job is not None:
                self._busy.add(symbol)
                nursery.start_soon(self._run_job, job, book)

    @property
    def enabled(self) -> bool:
        """`exits.on_exchange` (a live setting): off, the lists a journal left open are
        taken down (what a leg sold meanwhile is booked) and none is placed."""
        return self._trader.params.exits.on_exchange

    def _job(self, book: SymbolBook, now: float) -> Job | None:
        resting = book.resting
        if resting is None:
            if (
                self.enabled
                and book.position is not None
                and book.exit_due is None
                # held, or still buying: a buy filling in parts is protected as it grows
                and ((book.state is State.IN_POSITION and book.order is None) or book.buying)
            ):
                return self._place
            return None
        if resting.state is ListState.PLACING:
            return self._settle
        if resting.state is ListState.CANCELLING:
            return None
        if book.position is None or book.exit_due is not None or not self.enabled:
            return self._cancel
        if resting.crossed or self._pushed_leg(resting) is not None or self._pushed_list(resting):
            return self._check
        if now - self._checked.get(book.symbol, 0.0) >= self.check_s:
            return self._check
        target = self._trader.bracket(book)
        if (
            isinstance(target, Bracket)
            and moved(resting.bracket, target)
            and now - self._replaced.get(book.symbol, 0.0) >= self.replace_s
        ):
            return self._replace
        return None

    async def _run_job(self, job: Job, book: SymbolBook) -> None:
        symbol = book.symbol
        try:
            await job(book, book.resting)
        except trio.Cancelled:
            raise
        except Exception as exc:
            resting = book.resting
            if resting is not None and resting.state is ListState.CANCELLING:
                resting.state = ListState.RESTING
            book.protect_note = f"failed: {error_text(exc, 200)}"
            log.error("protection of %s: %s; tried again in %.0f s", symbol, exc, self.retry_s)
            self._not_before[symbol] = trio.current_time() + min(self.retry_s, 5.0)
        finally:
            self._busy.discard(symbol)
            self._context.changed()

    # -- the jobs --------------------------------------------------------------------------------

    async def _place(self, book: SymbolBook, _: RestingList | None) -> None:
        """Rest the position's list: journaled, then sent once."""
        symbol = book.symbol
        bracket = self._trader.bracket(book)
        if not isinstance(bracket, Bracket):
            note = f"{bracket}" if bracket is not None else "nothing to protect"
            if note != book.protect_note:
                log.warning(
                    "%s: no order list can rest: %s; its exits stay in the bot", symbol, note
                )
            book.protect_note = note
            self._not_before[symbol] = trio.current_time() + 1.0
            return
        ids = ListIds.new(self._trader.ids)
        resting = book.resting = RestingList(ids, bracket, self._clock_ms())
        try:
            await self._writer.order_list(symbol, ids, bracket, resting.journaled_ms)
        except JournalError as exc:
            book.resting = None
            book.protect_note = f"not placed: {exc}"
            self._not_before[symbol] = trio.current_time() + self.retry_s
            log.error("order list for %s not sent: %s", symbol, exc)
            return
        crashpoints.reached("list_journaled")
        try:
            found = await self._lists.place(symbol, bracket, ids)
        except ListAbsent as exc:
            book.resting = None  # never placed: a new one is, next round
            self._writer.list_status(ids.list_id, "absent", str(exc))
            log.info("order list %s was never placed; a new one is", ids.list_id)
            return
        except ListRefused as exc:
            self._refused(book, resting, str(exc))
            return
        except ListInDoubt as exc:
            log.warning("%s; looked up again", exc)
            return  # still placing: settled by the next round
        crashpoints.reached("list_sent")
        self._rests(book, resting, found)

    def _rests(self, book: SymbolBook, resting: RestingList, found: ExchangeList) -> None:
        resting.state = ListState.RESTING
        self._pushed_list(resting, seen=True)  # its placement's own status: nothing new
        self._writer.list_status(resting.ids.list_id, "resting")
        book.protect_note = ""
        self._checked[book.symbol] = trio.current_time()
        if found.over:
            resting.crossed = True  # a leg executed at once: looked at next
        b = resting.bracket
        log.info(
            "%s protected on the exchange: %s to sell at take-profit %s or stop %s (limit %s), "
            "order list %s",
            book.symbol,
            fmt_decimal(b.qty),
            fmt_decimal(b.take_price),
            fmt_decimal(b.stop_price),
            fmt_decimal(b.stop_limit),
            resting.ids.list_id,
        )

    def _refused(self, book: SymbolBook, resting: RestingList, why: str) -> None:
        """Binance refused the list: the bot keeps the exits meanwhile and tries again,
        soon when the refusal was the market's price at that moment (the take-profit
        already reached, the stop already passed), else after `retry_s`."""
        book.resting = None
        self._writer.list_status(resting.ids.list_id, "refused", why)
        delay = PRICE_RETRY_S if any(text in why for text in PRICE_REFUSALS) else self.retry_s
        self._not_before[book.symbol] = trio.current_time() + delay
        note = f"refused: {why}"
        if note != book.protect_note:  # said once, not at each attempt
            log.warning(
                "order list for %s refused: %s; its exits stay in the bot; tried again in %.0f s",
                book.symbol,
                why,
                delay,
            )
        book.protect_note = note

    async def _settle(self, book: SymbolBook, resting: RestingList | None) -> None:
        """A list whose placement's outcome is unknown (its answer lost, or journaled
        before a restart): looked up by its id, never sent again."""
        assert resting is not None
        try:
            found = await self._lists.settle(
                book.symbol, resting.ids.list_id, "sent before a restart, or its answer lost"
            )
        except ListInDoubt as exc:
            log.warning("%s; looked up again", exc)
            self._not_before[book.symbol] = trio.current_time() + 1.0
            return
        if found is None:
            book.resting = None
            self._writer.list_status(resting.ids.list_id, "absent", "never placed")
            log.info("order list %s was never placed; a new one is", resting.ids.list_id)
            return
        self._rests(book, resting, found)
        resting.crossed = True  # placed while the bot did not look: its legs are looked at

    def _pushed_leg(self, resting: RestingList) -> tuple[str, int] | None:
        """A leg the user data stream says executed (in part), not looked at yet: its id
        and the pushed state's version."""
        pushed = self._pushed
        if pushed is None:
            return None
        for cid in (resting.ids.above, resting.ids.below):
            got = pushed.latest(cid)
            if got is not None and got[1].filled > 0 and self._seen_push.get(cid) != got[0]:
                return cid, got[0]
        return None

    def _pushed_list(self, resting: RestingList, *, seen: bool = False) -> bool:
        """Whether the stream pushed a status of the list not looked at yet (`seen`: it
        is looked at now)."""
        got = self._pushed.list_state(resting.ids.list_id) if self._pushed is not None else None
        if got is None or self._seen_push.get(resting.ids.list_id) == got[0]:
            return False
        if seen:
            self._seen_push[resting.ids.list_id] = got[0]
        return True

    async def _check(self, book: SymbolBook, resting: RestingList | None) -> None:
        """Whether a leg executed (then it is the position's exit) or the list ended, from
        what the stream pushed or else from the legs' own orders."""
        assert resting is not None
        symbol = book.symbol
        self._checked[symbol] = trio.current_time()
        self._pushed_list(resting, seen=True)
        pushed = self._pushed_leg(resting)
        if pushed is not None:
            leg, version = pushed
            self._seen_push[leg] = version
            await self._adopt(book, resting, leg == resting.ids.above, "pushed")
            return
        legs = await self._legs(symbol, resting)
        if legs is None:
            return  # not shown (the query lags): asked again next time
        executed = next((leg for leg in legs if leg.filled > 0), None)
        if executed is not None:
            await self._adopt(book, resting, executed.client_id == resting.ids.above, "queried")
            return
        resting.crossed = False
        if all(leg.status.terminal for leg in legs):
            self._ended_outside(book, resting)

    async def _legs(self, symbol: str, resting: RestingList) -> list[ExchangeOrder] | None:
        return await self._lists.legs(symbol, (resting.ids.below, resting.ids.above))

    async def _adopt(self, book: SymbolBook, resting: RestingList, take: bool, how: str) -> bool:
        """A leg executed on the exchange: it is the position's exit from now on. False
        when it cannot be now (another order of the coin is open: looked at again once it
        is over)."""
        symbol = book.symbol
        leg = resting.ids.above if take else resting.ids.below
        if book.position is None:
            # The bot holds none of the coin the leg sold: nothing explains it.
            book.resting = None
            message = (
                f"leg {leg} of order list {resting.ids.list_id} sold {symbol} while the bot "
                "holds none"
            )
            self._writer.list_status(resting.ids.list_id, "over", message)
            log.error("%s; entries for %s stop until you have looked", message, symbol)
            self._trader.gate.hold(CoinHold.UNEXPLAINED, symbol, message)
            self._writer.event("unexplained", message, symbol)
            self._context.notice(wording.unexplained_notice(symbol, message))
            return True
        if book.state is not State.IN_POSITION:
            self._not_before[symbol] = trio.current_time() + 1.0
            return False
        intent = self._trader.adopt_leg(symbol, take, self._context.now())
        self._writer.list_status(resting.ids.list_id, "over", f"{leg} executed")
        log.info(
            "%s: the %s leg %s of order list %s executed on the exchange (%s); followed",
            symbol,
            "take-profit" if take else "stop",
            leg,
            resting.ids.list_id,
            how,
        )
        await self._router.adopt(intent, resting.journaled_ms)
        return True

    def _ended_outside(self, book: SymbolBook, resting: RestingList) -> None:
        """The list is over and no leg sold: cancelled by someone else; placed again."""
        book.resting = None
        message = (
            f"order list {resting.ids.list_id} of {book.symbol} ended on the exchange with "
            "no leg executed (cancelled outside the bot?)"
        )
        self._writer.list_status(resting.ids.list_id, "over", "ended outside the bot")
        if book.position is not None:
            message += "; a new one is placed"
        report(self._writer, self._context.notice, book.symbol, message)

    async def _cancel(self, book: SymbolBook, resting: RestingList | None) -> None:
        """An exit of the bot's own (or a position gone): the list is cancelled first, then
        what a leg sold meanwhile is booked, and only the rest is sold."""
        assert resting is not None
        if await self._take_down(book, resting, "an exit of the bot's own"):
            return
        if book.position is None:
            message = (
                f"order list {resting.ids.list_id} rested on the exchange for no position of "
                "the bot (sold by hand?): cancelled"
            )
            report(self._writer, self._context.notice, book.symbol, message)
            return
        reason = book.exit_due
        if reason is None:
            return
        intent = self._trader.exit_position(book.symbol, self._context.now(), reason)
        if intent is not None:
            await self._router.execute(intent)

    async def _replace(self, book: SymbolBook, resting: RestingList | None) -> None:
        """The stop leg moves up with the trailing stop (or the amount changed): cancel,
        then place the list for what is held now (new ids)."""
        assert resting is not None
        self._replaced[book.symbol] = trio.current_time()
        if await self._take_down(book, resting, "moved"):
            return
        if book.exit_due is None and book.position is not None:
            await self._place(book, None)

    async def _take_down(self, book: SymbolBook, resting: RestingList, why: str) -> bool:
        """Cancel the list; True when a leg had executed (it is the exit now)."""
        symbol = book.symbol
        resting.state = ListState.CANCELLING
        crashpoints.reached("list_cancel")
        await self._lists.cancel(symbol, resting.ids.list_id)
        legs = await self._legs(symbol, resting)
        if legs is None:  # its legs not shown yet: cancelled (or over) again, then looked at
            resting.state = ListState.RESTING
            self._not_before[symbol] = trio.current_time() + 1.0
            return True
        executed = next((leg for leg in legs if leg.filled > 0), None)
        if executed is not None:
            # The leg's sale is the exit (until it is adopted, the list is looked at again).
            resting.state = ListState.RESTING
            await self._adopt(book, resting, executed.client_id == resting.ids.above, "cancel")
            return True
        book.resting = None
        self._writer.list_status(resting.ids.list_id, "over", f"cancelled: {why}")
        log.info("%s: order list %s cancelled (%s)", symbol, resting.ids.list_id, why)
        return False


def moved(resting: Bracket, target: Bracket) -> bool:
    """Whether the list should be placed again: the stop leg a tick or more higher (the
    trailing stop rose), or another amount held."""
    return target.stop_price > resting.stop_price or target.qty != resting.qty


def live_protector(
    broker: Broker,
    trader: Trader,
    router: OrderRouter,
    writer: JournalWriter | None,
    journal: Journal | None,
    context: Context,
    settings: Settings,
) -> Protector | None:
    """A live engine's protector: on a broker that rests order lists, with a journal;
    else None (paper and replay model the lists in `core.signals`)."""
    if not isinstance(broker, RestsOrderLists) or writer is None or journal is None:
        return None
    trader.signals.legs_live = True
    return Protector(
        trader,
        router,
        broker.lists,
        writer,
        context,
        own_prefix=client_id_prefix(settings.exchange.profile, journal.identity),
        pushed=broker.pushed,
    )
