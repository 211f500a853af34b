"""Errors heal or escalate: a coin whose order is in doubt is settled again, with back-off.

A symbol goes into error when the exchange could not say what became of one of its orders
(the lookups kept failing, it vanished, a cancel did not go through). Nothing is sent for
it meanwhile, but it is not forgotten: its order is looked up by its client id again after
2 s, 4 s, 8 s ... up to 5 minutes apart, and at once when the trader asks (`retry now`) or
when an exit fires for its position. Once the order is settled the symbol is back in
position (and a due exit is sent at once) or flat. Every attempt is logged.
"""

from __future__ import annotations

import logging

import trio

from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.context import Context
from tradebot_tui.engine.router import OrderRouter
from tradebot_tui.engine.wording import NoticeText

log = logging.getLogger("tradebot.engine")

BASE_S = 2.0
CAP_S = 300.0
PERIOD_S = 0.25


class Healer:
    """Retries the symbols in error, sends the exits that fell due meanwhile."""

    def __init__(
        self,
        trader: Trader,
        router: OrderRouter,
        context: Context,
        *,
        base_s: float = BASE_S,
        cap_s: float = CAP_S,
    ) -> None:
        self.base_s = base_s  # the first retry's delay, doubled at each one
        self.cap_s = cap_s
        self._trader = trader
        self._router = router
        self._now_ms = context.now
        self._notice = context.notice
        self._changed = context.changed
        self._due: dict[str, float] = {}  # symbol -> trio time of the next attempt
        self._attempts: dict[str, int] = {}
        self._urgent: set[str] = set()

    def retry_now(self, symbol: str) -> NoticeText:
        """The trader's "retry now": the next attempt goes at once."""
        book = self._trader.books.get(symbol)
        if book is None or book.state not in (State.ERROR, State.RECOVERING):
            return wording.not_in_error(symbol)
        if book.state is State.ERROR:
            self._due[symbol] = 0.0
            self._attempts.setdefault(symbol, 0)
        return wording.retrying(symbol, book.error)

    async def run(self) -> None:
        while True:
            await trio.sleep(PERIOD_S)
            await self.step()

    async def step(self) -> None:
        """One round: attempt what is due, send the exits that fell due, forget the healed."""
        trader = self._trader
        now = trio.current_time()
        in_error = set(trader.in_error())
        for symbol in sorted(in_error):
            book = trader.books[symbol]
            if symbol not in self._due:
                self._due[symbol] = now + self.base_s
                self._attempts[symbol] = 0
                log.warning("%s in error (%s): retried in %.0f s", symbol, book.error, self.base_s)
            if book.exit_due is not None and symbol not in self._urgent:
                self._urgent.add(symbol)  # an exit fired: settle it now
                self._due[symbol] = 0.0
            if now >= self._due[symbol]:
                self._attempt(symbol, now)
        for symbol in trader.due_exits():
            book = trader.books[symbol]
            reason = book.exit_due
            assert reason is not None
            intent = trader.exit_position(symbol, self._now_ms(), reason)
            if intent is not None:
                log.info("%s: settled; the exit that fell due meanwhile goes now", symbol)
                await self._router.execute(intent)
        for symbol in list(self._due):
            state = trader.books[symbol].state
            if symbol not in in_error and state is not State.RECOVERING:
                log.info("%s healed: its order is settled", symbol)
                self._notice(wording.healed(symbol))
                del self._due[symbol], self._attempts[symbol]
                self._urgent.discard(symbol)
                self._changed()

    def _attempt(self, symbol: str, now: float) -> None:
        attempt = self._attempts[symbol] = self._attempts[symbol] + 1
        delay = min(self.cap_s, self.base_s * 2**attempt)
        self._due[symbol] = now + delay
        log.info("%s: settling its order in doubt again (attempt %d)", symbol, attempt)
        if not self._router.heal(symbol):
            log.error("%s cannot be settled here; the next attempt in %.0f s", symbol, delay)
        self._changed()
