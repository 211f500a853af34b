"""Restart recovery: the journal rebuilds the trader, then the exchange settles what was open.

Every journaled order is restored as it happened (intent, fills, closure). An order still
open in the journal is looked up on the exchange by its client id: one that never got
there is closed as failed; one that did is followed again from the fills the journal
already holds, so no fill is counted twice and nothing is sent again. Open orders on the
exchange with our prefix that the journal does not know are adopted and reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from decimal import Decimal, localcontext

import trio

from tradebot_tui.core.ledger import LedgerError
from tradebot_tui.core.money import EXACT, fmt_decimal
from tradebot_tui.core.orders import (
    OrderClosed,
    OrderIntent,
    OrderStatus,
    Purpose,
    Side,
    client_id_prefix,
)
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine.journal import Journal, JournaledOrder, JournalError
from tradebot_tui.engine.journal_writer import JournalWriter
from tradebot_tui.engine.router import OrderRouter
from tradebot_tui.exchange.base import ExchangeBroker

log = logging.getLogger("tradebot.engine")


class Recovery:
    """Brings one engine's state back from its journal and the exchange, once, at start."""

    def __init__(
        self,
        journal: Journal,
        writer: JournalWriter,
        trader: Trader,
        router: OrderRouter,
        account: ExchangeBroker,
        *,
        profile: str,
        now: Callable[[], int],
    ) -> None:
        self._now = now
        self._journal = journal
        self._writer = writer
        self._trader = trader
        self._router = router
        self._account = account
        self._prefix = client_id_prefix(profile)

    async def run(self) -> dict[str, Decimal] | None:
        """Recover; returns the baseline balances reconciliation compares against.

        Raises:
            JournalError: the journal does not add up (edited by hand?): nothing trades.
        """
        journal = self._journal
        orders = await trio.to_thread.run_sync(lambda: list(journal.orders()))
        known, pending = self._restore(orders)
        count = len(known)
        if count:
            log.info(
                "journal: %d orders restored, %d still open; checking them on the exchange",
                count,
                len(pending),
            )
        for jo in pending:
            await self._settle(jo)
        await self._adopt(known)
        baseline = journal.baseline()
        if baseline is None:
            if count:
                log.warning("no baseline balances in the journal: holdings are not reconciled")
            else:
                balances = await self._account.balances()
                baseline = {asset: b.total for asset, b in balances.items()}
                await self._writer.meta(
                    "baseline_balances", json.dumps({k: str(v) for k, v in baseline.items()})
                )
        self._writer.event("start", f"{count} orders restored, {len(pending)} open")
        return baseline

    def _restore(self, orders: list[JournaledOrder]) -> tuple[set[str], list[JournaledOrder]]:
        """Replay the journal into the trader; the client ids known and the orders open."""
        journal, trader, router = self._journal, self._trader, self._router
        known: set[str] = set()
        pending: list[JournaledOrder] = []
        for jo in orders:
            intent = jo.intent
            known.add(intent.client_id)
            try:
                trader.restore_intent(intent)
            except ValueError as exc:
                raise JournalError(f"{journal.path}: {exc}; the journal does not add up") from None
            router.remember(intent)
            for fill in jo.fills:
                router.apply(fill, journal=False)
            if jo.terminal:
                router.apply(
                    OrderClosed(intent.client_id, jo.status, intent.ts_ms, jo.message),
                    journal=False,
                )
            else:
                pending.append(jo)
        for symbol, (qty, cost) in journal.positions().items():
            ours = trader.holding(symbol)[0]
            if ours != qty:
                raise JournalError(
                    f"{journal.path}: positions says {symbol} {qty} (cost {cost}) but its fills "
                    f"add up to {ours}; the journal may have been edited by hand. Nothing "
                    "was traded"
                )
        trader.ledger.check()
        return known, pending

    async def _settle(self, jo: JournaledOrder) -> None:
        """An order the journal left open: gone, or followed again from where it was."""
        intent = jo.intent
        order = await self._account.lookup(intent)
        if order is None:
            log.warning("%s never reached the exchange: closed as failed", intent.client_id)
            self._router.apply(
                OrderClosed(
                    intent.client_id,
                    OrderStatus.FAILED,
                    intent.ts_ms,
                    "never reached the exchange (found at restart)",
                )
            )
        else:
            self._router.follow(intent, (jo.fills, order))

    async def _adopt(self, known: set[str]) -> None:
        """Open orders with our id prefix that the journal does not know: adopt, report."""
        trader = self._trader
        for order in await self._account.open_orders(self._prefix):
            cid = order.client_id
            if cid in known:
                continue
            symbol, side = order.symbol, order.side
            price = order.price or order.average or await self._account.price(symbol)
            with localcontext(EXACT):
                reserved = order.amount * price * (1 + trader.params.fee_rate)
            intent = OrderIntent(
                cid,
                symbol,
                side,
                Purpose.ENTRY if side is Side.BUY else Purpose.EXIT,
                order.amount,
                price,
                self._now(),
                reserved=reserved,
            )
            message = (
                f"adopted {cid}: an open {side.value} of {fmt_decimal(order.amount)} {symbol} "
                "with our prefix that the journal did not know"
            )
            log.warning(message)
            self._writer.event("adopted", message, symbol)
            try:
                trader.restore_intent(intent)
            except (ValueError, LedgerError) as exc:
                trader.held[symbol] = f"unexplained order {cid}: {exc}"
                log.error("%s: %s; entries for %s stopped", cid, exc, symbol)
                continue
            await self._writer.intent(intent, adopted=True)
            self._router.remember(intent)
            self._router.follow(intent, ([], order))
