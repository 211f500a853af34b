"""The kill switch: once equity falls `risk.kill_switch_pct` below its reference, sell
everything and stop entries.

Watched once a second on the engine's loop. Tripping it is a command like the keys'
(`KillSwitch`), so that it is applied, journaled and survives a restart the same way;
resuming entries re-arms it from the equity then (engine.control).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

import trio

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.gate import Pause
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine.commands import Command, KillSwitch

log = logging.getLogger("tradebot.engine")

CHECK_EVERY_S = 1.0


class KillSwitchWatch:
    """Measures equity against the kill switch's floor and trips it once."""

    def __init__(
        self,
        trader: Trader,
        settings: Callable[[], Settings],
        submit: Callable[[Command], None],
    ) -> None:
        self._trader = trader
        self._settings = settings
        self._submit = submit
        self._sent = False

    def floor(self) -> Decimal | None:
        """The equity at which it trips (None: off)."""
        return self._trader.kill_switch.floor(self._settings().risk.kill_switch_pct)

    @property
    def tripped(self) -> str:
        """Why it tripped ("" while armed or off)."""
        return self._trader.gate.detail(Pause.KILL_SWITCH) or ""

    def header(self) -> str:
        """Its word in the status bar."""
        if self.tripped:
            return "KILL SWITCH TRIPPED"
        floor = self.floor()
        return f"kill switch at {floor:.2f}" if floor is not None else ""

    def check(self) -> None:
        """Trip it when equity is at or below the floor (once; again after a re-arm)."""
        trader = self._trader
        floor = self.floor()
        if self.tripped or floor is None:
            self._sent = bool(self.tripped)
            return
        equity = trader.equity()
        if equity <= floor and not self._sent:
            pct = self._settings().risk.kill_switch_pct
            reason = (
                f"equity {equity:.2f} {trader.ledger.quote} fell to the kill switch's "
                f"{floor:.2f} ({pct:g} % below {trader.kill_switch.reference:.2f})"
            )
            try:
                self._submit(KillSwitch(reason))
                self._sent = True
            except trio.WouldBlock:  # the command queue is full: next second
                log.warning("kill switch: the engine's command queue is full; retrying")

    async def run(self) -> None:
        while True:
            self.check()
            await trio.sleep(CHECK_EVERY_S)
