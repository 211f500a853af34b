"""Restart recovery: the journal rebuilds the trader, the exchange confirms nothing was lost.

Every journaled order is restored as it happened (intent, fills, closure). Before anything
trades, the account's recent orders are read: an order carrying this journal's identity
that the journal does not know means the journal lost data (a lost WAL, a copy restored
from a backup), and nothing trades: the journal is set aside with the list. A fresh
journal reports the orders of earlier journals of the profile instead. Orders the journal
left open are then settled with the exchange in the background (found and followed from
the fills already journaled, or shown never placed), never sent again.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal

import trio

from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import CoinHold, Pause
from tradebot_tui.core.identity import client_id_prefix
from tradebot_tui.core.money import fmt_decimal
from tradebot_tui.core.orders import OrderClosed, OrderStatus, Side
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.context import Context
from tradebot_tui.engine.protector_restart import list_ids, restore_lists
from tradebot_tui.engine.router import OrderRouter
from tradebot_tui.exchange.base import ExchangeBroker
from tradebot_tui.exchange.reports import Balance, ExchangeOrder
from tradebot_tui.journal.schema import EXIT_ASKED, LAST_PRICES
from tradebot_tui.journal.store import Journal, JournaledOrder, JournalError
from tradebot_tui.journal.writer import JournalWriter

log = logging.getLogger("tradebot.engine")


# Journal meta keys of state kept across restarts.
PAUSES = "pauses"


async def save_last_prices(writer: JournalWriter, trader: Trader) -> None:
    """Keep where every price was (a restarted simulated market goes on from there)."""
    prices = {s: b.last_price for s, b in trader.books.items() if b.last_ts}
    with contextlib.suppress(JournalError):  # a failed write is reported by the writer
        await writer.meta(LAST_PRICES, json.dumps(prices))


async def watch_shutdown(
    router: OrderRouter,
    writer: JournalWriter | None,
    trader: Trader,
    policy: Callable[[], str],
) -> None:
    """At shutdown: send nothing new; cancel entries if the policy says so; give orders in
    flight time; keep the last prices."""
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await router.shut_down(cancel_entries=policy() == "cancel_entries")
            if writer is not None:
                await save_last_prices(writer, trader)


class JournalLostData(JournalError):
    """The exchange has orders this journal made and does not know: it lost data."""


class Recovery:
    """Brings one engine's state back from its journal and the exchange, once, at start."""

    def __init__(
        self,
        journal: Journal,
        writer: JournalWriter,
        trader: Trader,
        router: OrderRouter,
        account: ExchangeBroker | None,
        context: Context,
        *,
        profile: str,
        quote: str,
        symbols: Callable[[], Iterable[str]],
        lists_live: bool = False,
    ) -> None:
        self._journal = journal
        self._writer = writer
        self._trader = trader
        self._router = router
        self._account = account
        self._quote = quote
        self._symbols = symbols
        # A protector keeps the positions' order lists (live): the journal's go back to
        # their positions for it.
        self._lists_live = lists_live
        self._notice = context.notice
        self._profile = profile
        self._profile_prefix = client_id_prefix(profile)
        self._own_prefix = client_id_prefix(profile, journal.identity)

    async def run(self) -> dict[str, Decimal] | None:
        """Recover; returns the baseline balances reconciliation compares against.

        Raises:
            JournalError: the journal does not add up (edited by hand?), or it lost data
                (`JournalLostData`): nothing trades.
        """
        journal = self._journal
        orders = await trio.to_thread.run_sync(lambda: list(journal.orders()))
        known, pending = self._restore(orders)
        self._restore_pauses()
        count = len(known)
        lists = await trio.to_thread.run_sync(journal.order_lists)
        if self._lists_live:
            restore_lists(self._trader, lists, known, exits_asked(journal))
        known |= list_ids(self._trader, lists)
        if self._account is None:  # paper: nothing to settle with an exchange
            self._close_paper(pending)
            self._writer.event("start", f"{count} orders restored")
            if count:
                log.info("journal: %d orders restored", count)
            return None
        balances = await self._account.balances()
        await self._check_account(known, {jo.intent.symbol for jo in orders}, balances)
        if count:
            log.info(
                "journal: %d orders restored, %d still open; settling them with the exchange",
                count,
                len(pending),
            )
        for jo in pending:
            self._router.follow(jo.intent, (jo.fills, jo.journaled_ms))
        baseline = journal.baseline()
        if baseline is None:
            if count:
                log.warning("no baseline balances in the journal: holdings are not reconciled")
            else:
                baseline = {asset: b.total for asset, b in balances.items()}
                await self._writer.meta(
                    "baseline_balances", json.dumps({k: str(v) for k, v in baseline.items()})
                )
        self._writer.event("start", f"{count} orders restored, {len(pending)} open")
        return baseline

    def _close_paper(self, pending: list[JournaledOrder]) -> None:
        """Paper orders the journal left open were never filled: nothing else will fill them."""
        for jo in pending:
            intent = jo.intent
            self._router.apply(
                OrderClosed(
                    intent.client_id,
                    OrderStatus.FAILED,
                    intent.ts_ms,
                    "paper order not filled before the restart",
                )
            )

    def _restore_pauses(self) -> None:
        """The trader's pauses (all entries, and coin by coin) and the kill switch as they
        were at the stop."""
        raw = self._journal.meta(PAUSES)
        if raw is None:
            return
        trader = self._trader
        gate = trader.gate
        pauses = json.loads(raw)
        if pauses.get("all"):
            gate.pause(Pause.OWNER)
        for symbol in pauses.get("symbols", []):
            gate.hold(CoinHold.OWNER, symbol)
        kill = pauses.get("kill") or {}
        if kill:
            trader.kill_switch.reference = Decimal(kill["reference"])
            tripped = str(kill.get("tripped", ""))
            if tripped:
                gate.pause(Pause.KILL_SWITCH, tripped)
                log.warning("the kill switch tripped before the restart: %s", tripped)
                # A crash may have come before all its sales went (a buy open at the trip
                # is sold only once it ends): what is still held is sold now.
                held = trader.exit_all_due(ExitReason.KILL_SWITCH)
                if held:
                    log.warning(
                        "kill switch: %s still held after the restart; selling", ", ".join(held)
                    )
        owner_coins = gate.held(CoinHold.OWNER)
        if gate.paused or owner_coins:
            log.info(
                "pauses restored: entries %s; coins paused: %s",
                "paused" if gate.paused else "on",
                ", ".join(sorted(owner_coins)) or "none",
            )

    def _restore(self, orders: list[JournaledOrder]) -> tuple[set[str], list[JournaledOrder]]:
        """Replay the journal into the trader; the client ids known and the orders open."""
        journal, trader, router = self._journal, self._trader, self._router
        known: set[str] = set()
        pending: list[JournaledOrder] = []
        asked = exits_asked(journal)
        for jo in orders:
            intent = jo.intent
            known.add(intent.client_id)
            try:
                trader.restore_intent(intent, asked.get(intent.client_id))
            except ValueError as exc:
                raise JournalError(f"{journal.path}: {exc}; the journal does not add up") from None
            router.remember(intent, journaled_ms=jo.journaled_ms)
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

    async def _check_account(
        self, known: set[str], journaled: set[str], balances: dict[str, Balance]
    ) -> None:
        """Read the account's recent orders of every symbol we may have traded.

        Raises:
            JournalLostData: orders with this journal's identity that it does not know.
        """
        account = self._account
        assert account is not None
        symbols = set(self._symbols()) | journaled
        for asset in balances:
            if asset != self._quote:
                symbol = account.market_symbol(asset, self._quote)
                if symbol is not None:
                    symbols.add(symbol)
        seen: list[ExchangeOrder] = []
        for symbol in sorted(symbols):
            seen += await account.recent_orders(symbol)
        ours = [o for o in seen if o.client_id.startswith(self._profile_prefix)]
        lost = [o for o in ours if o.client_id.startswith(self._own_prefix)]
        lost = [o for o in lost if o.client_id not in known]
        if lost:
            listed = "; ".join(_describe(o) for o in lost[:10])
            more = f" and {len(lost) - 10} more" if len(lost) > 10 else ""
            target = self._journal.set_aside("lost")
            raise JournalLostData(
                f"the journal {self._journal.path} lost data: the exchange has {len(lost)} "
                f"order(s) it made that it does not know: {listed}{more}. It was moved to "
                f"{target} and nothing was traded. Check the account (these orders and what "
                "they bought), then start with --new-journal for a fresh journal"
            )
        if not known:
            self._report_earlier(ours)

    def _report_earlier(self, orders: list[ExchangeOrder]) -> None:
        """A fresh journal: say what earlier journals of the profile did on the account."""
        earlier = [o for o in orders if not o.client_id.startswith(self._own_prefix)]
        if not earlier:
            return
        net: dict[str, Decimal] = {}
        for o in earlier:
            signed = o.filled if o.side is Side.BUY else -o.filled
            net[o.symbol] = net.get(o.symbol, Decimal(0)) + signed
        bought = ", ".join(
            f"{symbol} {fmt_decimal(qty)}" for symbol, qty in sorted(net.items()) if qty > 0
        )
        text = (
            f"a new journal: the account has {len(earlier)} recent order(s) of profile "
            f"{self._profile_prefix[3:-1]!r} made by earlier journals: "
            + "; ".join(_describe(o) for o in earlier[:10])
            + (f"; bought and not sold since: {bought}" if bought else "")
            + ". This journal does not manage them: their coins are part of the starting "
            "balances"
        )
        log.warning(text)
        self._writer.event("earlier orders", text)
        self._notice(wording.earlier_orders_notice(len(earlier), bought))


def _describe(order: ExchangeOrder) -> str:
    return (
        f"{order.client_id} {order.side.value} {fmt_decimal(order.amount)} {order.symbol} "
        f"({order.status.value}, filled {fmt_decimal(order.filled)})"
    )


def exits_asked(journal: Journal) -> dict[str, ExitReason]:
    """The exits asked for while an order was open, by that order's client id.

    Raises:
        JournalError: a row that does not make sense (edited by hand), named.
    """
    out: dict[str, ExitReason] = {}
    for row_id, detail in journal.events(EXIT_ASKED):
        cid, _, reason = detail.partition(" ")
        try:
            out[cid] = ExitReason(reason)
        except ValueError:
            raise JournalError(
                f"{journal.path}: events row {row_id}: {detail!r} is not "
                "'<client id> <exit reason>'"
            ) from None
    return out
