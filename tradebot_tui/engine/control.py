"""The trader's commands (keys, the command palette), applied to a running engine.

One `match` turns each command into what it does. Commands that change what a restart
must know are journaled; the others (focus, replay speed) only change the screen.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace

import trio

from tradebot_tui.config import validate
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.errors import error_text
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
    TogglePause,
    ToggleSymbol,
)
from tradebot_tui.engine.healer import Healer
from tradebot_tui.engine.reconciliation import Reconciliation
from tradebot_tui.engine.recovery import PAUSES
from tradebot_tui.engine.router import OrderRouter
from tradebot_tui.engine.views import Views
from tradebot_tui.engine.wording import NoticeText
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


class Controller:
    """Applies the trader's commands to the trader, the router and the views."""

    def __init__(
        self,
        trader: Trader,
        router: OrderRouter,
        views: Views,
        *,
        settings: Settings,
        journal: JournalWriter | None,
        replay: ReplayControllable | None,
        healer: Healer,
        notice: Callable[[NoticeText], None],
        now: Callable[[], int],
        reconciliation: Reconciliation | None = None,
    ) -> None:
        self.settings = settings
        self._reconciliation = reconciliation
        self._healer = healer
        self._trader = trader
        self._router = router
        self._views = views
        self._journal = journal
        self._replay = replay
        self._notice = notice
        self._now = now

    async def apply(self, command: Command) -> None:
        """Carry out one command; journal it when a restart must know."""
        await self._handle(command)
        if self._journal is not None and isinstance(command, DURABLE):
            self._journal.event("control", type(command).__name__)
            trader = self._trader
            pauses = {
                "all": trader.paused,
                "symbols": sorted(trader.paused_symbols),
                "kill": {"reference": str(trader.kill_reference), "tripped": trader.killed},
            }
            self._journal.meta_later(PAUSES, json.dumps(pauses))

    async def _handle(self, command: Command) -> None:
        trader = self._trader
        match command:
            case TogglePause():
                await self._handle(ResumeEntries() if trader.paused else PauseEntries())
            case PauseEntries():
                if not trader.paused:
                    trader.paused = True
                    log.info("entries paused by the user; exits continue")
            case ResumeEntries():
                if trader.paused:
                    trader.paused = False
                    trader.reset_drawdown()
                    log.info("entries resumed (the drawdown protection starts from here)")
                if trader.killed:
                    trader.killed = ""
                    trader.kill_reference = trader.equity()
                    log.warning(
                        "kill switch re-armed from an equity of %.2f %s",
                        trader.kill_reference,
                        trader.ledger.quote,
                    )
            case ExitPosition(symbol):
                await self._exit(symbol)
            case ExitAll():
                await self._exit_all()
            case KillSwitch(reason):
                if not trader.killed:
                    trader.killed = reason
                    trader.paused = True
                    log.error("kill switch: %s; selling every position, entries stopped", reason)
                    self._notice(wording.kill_switch(reason))
                    await self._exit_all()
            case ToggleSymbol(symbol):
                paused = symbol not in trader.paused_symbols
                if paused:
                    trader.paused_symbols.add(symbol)
                    log.info("%s: entries paused by the user; its exits continue", symbol)
                else:
                    trader.paused_symbols.discard(symbol)
                    log.info("%s: entries resumed by the user", symbol)
                self._notice(wording.symbol_toggled(symbol, paused=paused))
            case RetryNow(symbol):
                self._notice(self._healer.retry_now(symbol))
            case AcceptBalance():
                await self._accept_balance()
            case CancelOrder(client_id):
                self._notice(await self._router.cancel(client_id))
            case ApplySettings(settings):
                self._apply_settings(settings)
            case Focus(symbol):
                self._views.focus = symbol
            case ReplayControl(action):
                if self._replay is None:
                    self._notice(wording.not_a_replay())
                else:
                    self._replay.control(action)

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

    async def _exit_all(self) -> None:
        held = self._trader.held_or_buying()
        log.info("exit all: %d position(s)", len(held))
        if not held:
            self._notice(wording.nothing_to_exit())
        for symbol in held:
            await self._exit(symbol)

    async def _exit(self, symbol: str) -> None:
        intent = self._trader.exit_position(symbol, self._now())
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
        if book.buying:
            log.info("exit %s: its buy order is still open; sold as soon as it ends", symbol)
            self._notice(wording.exit_after_entry(symbol))
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
