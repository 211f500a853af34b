"""The trader's commands (keys, the command palette), applied to a running engine.

One `match` turns each command into what it does. Commands that change what a restart
must know are journaled; the others (focus, replay speed) only change the screen.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import trio

from tradebot_tui.config import validate
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.errors import error_text
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import CoinHold, Pause
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.commands import (
    LIVE_SECTIONS,
    AcceptBalance,
    ApplySettings,
    CancelOrder,
    Command,
    ExitAll,
    ExitPosition,
    Focus,
    KillSwitch,
    PauseEntries,
    ReplayControl,
    ReplayControllable,
    ResumeEntries,
    RetryNow,
    SweepDust,
    TogglePause,
    ToggleSymbol,
)
from tradebot_tui.engine.context import Context
from tradebot_tui.engine.healer import Healer
from tradebot_tui.engine.reconciliation import Reconciliation
from tradebot_tui.engine.recovery import PAUSES
from tradebot_tui.engine.router import OrderRouter
from tradebot_tui.engine.sweeper import DustSweeper
from tradebot_tui.engine.views import Views
from tradebot_tui.exchange.base import ExchangeBroker
from tradebot_tui.journal.writer import JournalWriter

log = logging.getLogger("tradebot.engine")

DURABLE = (
    PauseEntries,
    ResumeEntries,
    ExitPosition,
    ExitAll,
    KillSwitch,
    ToggleSymbol,
    RetryNow,
    CancelOrder,
)


def pauses_of(trader: Trader) -> dict[str, object]:
    """What a restart must know of the pauses (journal meta `pauses`): the trader's own
    pause, their coins, the kill switch. The other sources pause again by themselves."""
    gate = trader.gate
    return {
        "all": gate.holds(Pause.OWNER),
        "symbols": sorted(gate.held(CoinHold.OWNER)),
        "kill": {
            "reference": str(trader.kill_switch.reference),
            "tripped": gate.detail(Pause.KILL_SWITCH) or "",
        },
    }


class Controller:
    """Applies the trader's commands to the trader, the router and the views."""

    def __init__(
        self,
        trader: Trader,
        router: OrderRouter,
        views: Views,
        context: Context,
        *,
        settings: Settings,
        journal: JournalWriter | None,
        replay: ReplayControllable | None,
        healer: Healer,
        reconciliation: Reconciliation | None = None,
        account: ExchangeBroker | None = None,
        last_sweep: str | None = None,
    ) -> None:
        self.settings = settings
        self._reconciliation = reconciliation
        self._healer = healer
        self.sweeper = DustSweeper(
            trader,
            router,
            context,
            account=account,
            journal=journal,
            last_ms=int(last_sweep) if last_sweep and last_sweep.isdigit() else None,
        )
        self._trader = trader
        self._router = router
        self._views = views
        self._journal = journal
        self._replay = replay
        self._notice = context.notice
        self._now = context.now

    async def apply(self, command: Command) -> None:
        """Carry out one command; journal it when a restart must know."""
        await self._handle(command)
        if self._journal is not None and isinstance(command, DURABLE):
            self._journal.event("control", type(command).__name__)
            self._journal.meta_later(PAUSES, json.dumps(pauses_of(self._trader)))

    async def _handle(self, command: Command) -> None:
        trader = self._trader
        gate = trader.gate
        match command:
            case TogglePause():
                await self._handle(ResumeEntries() if gate.paused else PauseEntries())
            case PauseEntries():
                if gate.pause(Pause.OWNER):
                    log.info("entries paused by the user; exits continue")
            case ResumeEntries():
                self._resume()
            case ExitPosition(symbol, remote):
                await self._exit(symbol, news=remote)
            case ExitAll(remote):
                await self._exit_all(news=remote)
            case KillSwitch(reason):
                if gate.pause(Pause.KILL_SWITCH, reason):
                    log.error("kill switch: %s; selling every position, entries stopped", reason)
                    self._notice(wording.kill_switch(reason))
                    await self._exit_all(ExitReason.KILL_SWITCH, news=True)
            case ToggleSymbol(symbol):
                paused = gate.hold(CoinHold.OWNER, symbol)
                if paused:
                    log.info("%s: entries paused by the user; its exits continue", symbol)
                else:
                    gate.unhold(CoinHold.OWNER, symbol)
                    log.info("%s: entries resumed by the user", symbol)
                self._notice(wording.symbol_toggled(symbol, paused=paused))
            case RetryNow(symbol):
                self._notice(self._healer.retry_now(symbol))
            case AcceptBalance():
                await self._accept_balance()
            case CancelOrder(client_id):
                self._notice(await self._router.cancel(client_id))
            case SweepDust():
                self._notice(await self.sweeper.sweep())
            case ApplySettings(settings):
                self._apply_settings(settings)
            case Focus(symbol):
                self._views.focus = symbol
            case ReplayControl(action):
                if self._replay is None:
                    self._notice(wording.not_a_replay())
                else:
                    self._replay.control(action)

    def _resume(self) -> None:
        """The trader resumes: their own pause ends and a tripped kill switch re-arms from
        the equity now. What other sources paused stays until they lift it."""
        trader = self._trader
        gate = trader.gate
        if gate.release(Pause.OWNER):
            trader.reset_drawdown()
            log.info("entries resumed (the drawdown protection starts from here)")
        if gate.release(Pause.KILL_SWITCH):
            trader.kill_switch.reference = trader.equity()
            log.warning(
                "kill switch re-armed from an equity of %.2f %s",
                trader.kill_switch.reference,
                trader.ledger.quote,
            )
        if gate.paused:
            still = [reason.value for reason in gate.reasons]
            log.warning("entries stay paused: %s", ", ".join(still))
            self._notice(wording.still_paused(still))

    async def _accept_balance(self) -> None:
        if self._reconciliation is None:
            self._notice(wording.balance_not_reconciled())
            return
        try:
            self._notice(await self._reconciliation.accept_quote())
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.error("accept balance: %s", error_text(exc))
            self._notice(wording.balance_refused(error_text(exc)))

    async def _exit_all(
        self, reason: ExitReason = ExitReason.MANUAL, *, news: bool = False
    ) -> None:
        held = self._trader.held_or_buying()
        log.info("exit all: %d position(s)", len(held))
        if not held:
            self._notice(wording.nothing_to_exit())
        for symbol in held:
            await self._exit(symbol, reason, news=news)

    async def _exit(
        self, symbol: str, reason: ExitReason = ExitReason.MANUAL, *, news: bool = False
    ) -> None:
        """Sell `symbol` now (or once its open order ends); `news`: its result goes to the
        owner like any trade's, not as the answer to a key pressed here."""
        if news:
            self._router.report_trade_of(symbol)
        intent = self._trader.exit_position(symbol, self._now(), reason)
        if intent is not None:
            await self._router.execute(intent)
            return
        book = self._trader.books.get(symbol)
        if book is None or book.exit_due is None:
            log.warning("exit %s: no open position to exit", symbol)
            self._notice(wording.no_position(symbol))
            return
        if self._journal is not None and book.order is not None:
            # Due once the open order ends: kept with that order's id, so that a restart
            # before then still sells.
            self._journal.exit_asked(book.order.client_id, symbol, book.exit_due.value)
        elif self._journal is not None and book.resting is not None:  # with its list's id
            self._journal.exit_asked(book.resting.ids.list_id, symbol, book.exit_due.value)
        if book.buying:
            log.info("exit %s: its buy order is still open; sold as soon as it ends", symbol)
            self._notice(wording.exit_after_entry(symbol))
            return
        if book.resting is not None:
            log.info("exit %s: its order list on the exchange is cancelled first", symbol)
            self._notice(wording.exit_after_list(symbol))
            return
        log.info("exit %s: due once its order in doubt is settled", symbol)
        self._healer.retry_now(symbol)
        self._notice(wording.exit_due(symbol))

    def _apply_settings(self, new: Settings) -> None:
        """Strategy, risk and exit settings from now on; open positions keep their exits."""
        old = self.settings
        merged = replace(old, strategy=new.strategy, risk=new.risk, exits=new.exits)
        changed = [key for key, _, _ in validate.diff(old, merged)]
        self.settings = merged
        self._trader.set_params(merged.strategy_params())
        later = [s for s in validate.changed_sections(old, new) if s not in LIVE_SECTIONS]
        log.info(
            "settings applied: %s",
            ", ".join(changed) or "nothing changed",
            extra={"fields": {"changed": len(changed)}},
        )
        self._notice(wording.settings_applied(changed, later))
