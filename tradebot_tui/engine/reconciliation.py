"""Reconciliation: what we hold and follow, against what the exchange says we hold and have open.

The comparisons are pure functions over typed exchange reports (nautilus_trader's
`live/reconciliation.py` is the model); `Reconciliation` runs them periodically. A
difference must be seen twice in a row before it holds a symbol (an order may be between
two polls), and nothing is ever corrected automatically: a held symbol takes no new
entries and shows both figures until the two sides agree again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.gate import CoinHold, Pause
from tradebot_tui.core.identity import client_id_prefix
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.exchange.base import ConvertsDust, ExchangeBroker
from tradebot_tui.exchange.reports import Balance, ExchangeOrder
from tradebot_tui.journal.writer import JournalWriter

log = logging.getLogger("tradebot.engine")


@dataclass(frozen=True, slots=True)
class Holding:
    """What we hold of one symbol that has no order in motion."""

    symbol: str
    base: str
    qty: Decimal
    qty_step: Decimal


def holding_differences(
    holdings: Iterable[Holding],
    balances: dict[str, Balance],
    baseline: dict[str, Decimal],
    tolerance: Decimal,
) -> dict[str, str]:
    """Symbols whose holding differs from the exchange's balance beyond the tolerance.

    The exchange's figure is the asset's total balance less what the account held when
    the journal began (`baseline`): what the bot bought since.
    """
    found: dict[str, str] = {}
    for h in holdings:
        balance = balances.get(h.base)
        theirs = (balance.total if balance is not None else Decimal(0)) - baseline.get(
            h.base, Decimal(0)
        )
        allowed = max(h.qty_step, h.qty * tolerance)
        if abs(theirs - h.qty) > allowed:
            found[h.symbol] = wording.holding_mismatch(h.base, h.qty, theirs)
    return found


def quote_change(trader: Trader) -> Decimal:
    """How much the quote balance changed by our fills since the journal began.

    The ledger charges every commission; those paid in a third asset (BNB) never left the
    quote balance, so they are added back.
    """
    ledger = trader.ledger
    return ledger.free + ledger.reserved - ledger.initial + trader.fees_elsewhere


def quote_difference(
    trader: Trader, balances: dict[str, Balance], baseline: dict[str, Decimal], tolerance: Decimal
) -> tuple[Decimal, Decimal] | None:
    """(ours, theirs) when the quote balance's change differs beyond the tolerance (a share
    of the budget); None when they agree."""
    quote = trader.ledger.quote
    balance = balances.get(quote)
    theirs = (balance.total if balance is not None else Decimal(0)) - baseline.get(
        quote, Decimal(0)
    )
    ours = quote_change(trader)
    if abs(theirs - ours) > trader.ledger.initial * tolerance:
        return ours, theirs
    return None


def foreign_open_orders(theirs: Iterable[ExchangeOrder], ours: set[str]) -> dict[str, str]:
    """Symbols with an open order carrying our prefix that we do not follow."""
    return {
        o.symbol: wording.foreign_open_order(o.client_id)
        for o in theirs
        if o.is_open and o.client_id not in ours
    }


def holdings(trader: Trader) -> list[Holding]:
    """Every symbol the trader knows with no order in motion (those are compared once
    they settle)."""
    return [
        Holding(symbol, book.rules.base, trader.holding(symbol)[0], book.rules.qty_step)
        for symbol, book in trader.books.items()
        if book.order is None
    ]


class Reconciliation:
    """Compares the trader with the exchange account; holds and releases symbols."""

    def __init__(
        self,
        trader: Trader,
        account: ExchangeBroker,
        journal: JournalWriter,
        *,
        profile: str,
        tolerance_pct: float,
    ) -> None:
        self._trader = trader
        self._account = account
        self._journal = journal
        self._prefix = client_id_prefix(profile)
        self._tolerance = Decimal(repr(tolerance_pct)) / 100
        self._suspect: dict[str, int] = {}
        self._quote_suspect = 0
        # The exchange's quote balance less the ledger's at the last check with no order
        # in motion (None before one): the monitor's drift alert and the metrics read it.
        self.drift: Decimal | None = None
        # What the account held when the journal began; None: holdings are not compared.
        self.baseline: dict[str, Decimal] | None = None
        if isinstance(account, ConvertsDust):
            account.on_credit = self.credit  # the BNB a conversion of dust credited

    async def report_balance(self, quote: str, budget: Decimal) -> None:
        """Say what the account holds of the quote currency against the budget."""
        try:
            balances = await self._account.balances()
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.error("could not read the exchange balances: %s", error_text(exc))
            return
        balance = balances.get(quote)
        free = balance.free if balance is not None else Decimal(0)
        for level, line in wording.balance_lines(quote, free, budget):
            log.log(level, line)

    async def run(self, period_s: float, changed: Callable[[], None]) -> None:
        """Compare every `period_s` until cancelled; a failed comparison is skipped."""
        while True:
            await trio.sleep(period_s)
            try:
                await self.check()
            except trio.Cancelled:
                raise
            except Exception as exc:
                log.warning("reconciliation skipped: %s", error_text(exc))
            changed()

    async def check(self) -> dict[str, str]:
        """Compare once; returns the symbols held and why."""
        trader = self._trader
        balances = await self._account.balances()
        theirs_open = await self._account.open_orders(self._prefix)
        found: dict[str, str] = {}
        if self.baseline is not None:
            found.update(
                holding_differences(holdings(trader), balances, self.baseline, self._tolerance)
            )
        ours = {o.client_id for o in trader.open_orders()}
        for book in trader.books.values():  # the legs of the lists resting for positions
            if book.resting is not None:
                ours.update(book.resting.ids.all)
        found.update(foreign_open_orders(theirs_open, ours))
        self._apply(found)
        if self.baseline is not None and not trader.open_orders():  # else: money in motion
            self._apply_quote(quote_difference(trader, balances, self.baseline, self._tolerance))
            raw = quote_difference(trader, balances, self.baseline, Decimal(0))
            self.drift = raw[1] - raw[0] if raw is not None else Decimal(0)
        return dict(trader.gate.held(CoinHold.MISMATCH))

    def _apply_quote(self, difference: tuple[Decimal, Decimal] | None) -> None:
        """Hold every entry on a quote drift seen twice in a row; release once it agrees."""
        trader = self._trader
        gate = trader.gate
        if difference is None:
            self._quote_suspect = 0
            if gate.release(Pause.QUOTE_DRIFT):
                log.info("reconciliation: the %s balance agrees again", trader.ledger.quote)
            return
        self._quote_suspect += 1
        why = wording.quote_mismatch(trader.ledger.quote, *difference)
        if self._quote_suspect >= 2 and gate.detail(Pause.QUOTE_DRIFT) != why:
            gate.pause(Pause.QUOTE_DRIFT, why)
            log.error("reconciliation: %s; entries stopped on every coin", why)
            self._journal.event("mismatch", why)

    async def accept_quote(self) -> wording.NoticeText:
        """Take the exchange's quote balance as right from now on (after a deposit or a
        withdrawal): the baseline moves by the drift, journaled. Returns what was done."""
        trader = self._trader
        quote = trader.ledger.quote
        if self.baseline is None:
            return wording.balance_refused(f"the {quote} balance is not reconciled (no baseline)")
        if trader.open_orders():
            return wording.balance_refused("orders are in motion: accept it once they are over")
        balances = await self._account.balances()
        difference = quote_difference(trader, balances, self.baseline, Decimal(0))
        if difference is None:
            return wording.balance_refused(f"the {quote} balance already agrees")
        ours, theirs = difference
        baseline = dict(self.baseline)
        baseline[quote] = baseline.get(quote, Decimal(0)) + theirs - ours
        await self._journal.meta(
            "baseline_balances", json.dumps({k: str(v) for k, v in baseline.items()})
        )
        self.baseline = baseline
        line = wording.quote_accepted(quote, ours, theirs)
        log.warning("reconciliation: %s", line)
        self._journal.event("accept-balance", line)
        self._quote_suspect = 0
        trader.gate.release(Pause.QUOTE_DRIFT)
        return wording.balance_accepted(line)

    def credit(self, asset: str, amount: Decimal) -> None:
        """`amount` of `asset` came to the account by no order of ours (BNB from a
        conversion of dust): it joins the baseline, journaled, so that a coin the bot
        trades is not held for it."""
        if self.baseline is None or amount <= 0:
            return
        self.baseline[asset] = self.baseline.get(asset, Decimal(0)) + amount
        self._journal.meta_later(
            "baseline_balances", json.dumps({k: str(v) for k, v in self.baseline.items()})
        )

    def _apply(self, found: dict[str, str]) -> None:
        gate = self._trader.gate
        held = gate.held(CoinHold.MISMATCH)
        for symbol in list(self._suspect):
            if symbol not in found:
                del self._suspect[symbol]
        for symbol, why in found.items():
            self._suspect[symbol] = self._suspect.get(symbol, 0) + 1
            if self._suspect[symbol] >= 2 and held.get(symbol) != why:
                gate.hold(CoinHold.MISMATCH, symbol, why)
                log.error("reconciliation: %s: %s; entries for %s stopped", symbol, why, symbol)
                self._journal.event("mismatch", why, symbol)
        for symbol in list(held):
            if symbol not in found:
                log.info("reconciliation: %s agrees with the exchange again", symbol)
                gate.unhold(CoinHold.MISMATCH, symbol)
