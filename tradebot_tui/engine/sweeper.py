"""The dust sweep: the dust the bot holds, converted to BNB on the trader's key (`d` on
the positions screen, or the palette) and, with `budget.sweep_dust_daily`, once a day
(docs/live-trading.md, "Dust").

Each coin is checked by the trader (`core.sweep`: never the quote currency, never BNB,
never a coin with an order or a hold) and, on an exchange, against the account: the
conversion takes the coin's whole free balance, so it is asked only when that balance is
the bot's dust. The coins that pass go out as one request (`OrderRouter.convert_dust`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.money import ZERO, fmt_decimal
from tradebot_tui.core.sweep import why_not_on_account
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.context import Context
from tradebot_tui.engine.router import OrderRouter
from tradebot_tui.exchange.base import ExchangeBroker
from tradebot_tui.journal.writer import JournalWriter

log = logging.getLogger("tradebot.engine")

# Journal meta: when the last sweep went out (wall clock, ms): the daily one counts from it.
LAST_SWEEP = "last_dust_sweep_ms"
DAY_S = 86_400.0


class DustSweeper:
    """Converts the dust the trader holds, asked for or once a day."""

    def __init__(
        self,
        trader: Trader,
        router: OrderRouter,
        context: Context,
        *,
        account: ExchangeBroker | None,
        journal: JournalWriter | None,
        last_ms: int | None = None,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._trader = trader
        self._router = router
        self._now = context.now
        self._account = account
        self._journal = journal
        self._wall_ms = wall_ms
        self.last_ms = last_ms

    async def sweep(self) -> wording.NoticeText:
        """Convert every coin's dust that may be converted now; what was done, in words.
        The daily sweep counts from here, whatever comes of it."""
        self.last_ms = self._wall_ms()
        if self._journal is not None:
            self._journal.meta_later(LAST_SWEEP, str(self.last_ms))
        trader = self._trader
        refused: dict[str, str] = {}
        ready: list[str] = []
        for symbol in sorted(trader.dust):
            why = trader.why_not_convert(symbol)
            if why is None:
                ready.append(symbol)
            else:
                refused[symbol] = why
        if ready and self._account is not None:
            try:
                balances = await self._account.balances()
            except trio.Cancelled:
                raise
            except Exception as exc:
                why = f"the account's balances could not be read ({error_text(exc)})"
                refused.update(dict.fromkeys(ready, why))
                ready = []
            else:
                for symbol in list(ready):
                    book, dust = trader.books[symbol], trader.dust[symbol]
                    base, step = book.rules.base, book.rules.qty_step
                    held = balances.get(base)
                    free, locked = (held.free, held.locked) if held is not None else (ZERO, ZERO)
                    why = why_not_on_account(base, dust.qty, free, locked, step)
                    if why is not None:
                        refused[symbol] = why
                        ready.remove(symbol)
        for symbol, why in refused.items():
            log.info("dust of %s not converted: %s", symbol, why)
        if not ready:
            return wording.dust_not_swept(refused)
        now = self._now()
        intents = [trader.convert_dust(symbol, now) for symbol in ready]
        worth = sum((i.qty * i.price for i in intents), start=ZERO)
        log.info(
            "converting the dust of %s to BNB (worth about %s %s)",
            ", ".join(ready),
            fmt_decimal(worth.quantize(Decimal("1e-8"))),
            trader.ledger.quote,
        )
        await self._router.convert_dust(intents)
        return wording.dust_swept(ready, refused)

    async def run_daily(self, check_s: float = 60.0, day_s: float = DAY_S) -> None:
        """A sweep once a day (counted from the last one, across restarts), when there is
        dust to convert: the engine runs it with `budget.sweep_dust_daily` on."""
        while True:
            last = self.last_ms
            if self._trader.dust and (last is None or self._wall_ms() - last >= day_s * 1000):
                notice = await self.sweep()
                log.info("daily dust sweep: %s", notice.message)
            await trio.sleep(check_s)
