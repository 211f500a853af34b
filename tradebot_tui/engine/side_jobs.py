"""Side jobs never stop trading: their problems are shown, and a failing journal pauses entries.

The journal, the tick recorder and the log file run beside trading. When one fails it is
reported (the log, the header) and retried by itself; trading goes on. The journal is
the one that changes what the engine does: an order must be on disk before it is sent,
so while the journal cannot be written, new entries pause (exits go on): the journal's
own reason in the entry gate, lifted by itself once a write goes through again. A pause
of the trader's own, made meanwhile or before, stays (core.gate).
"""

from __future__ import annotations

import logging

from tradebot_tui.core.gate import Pause
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.context import Context
from tradebot_tui.engine.logs import log_file_problem
from tradebot_tui.engine.recorder import TickRecorder
from tradebot_tui.engine.supervisor import Supervisor

log = logging.getLogger("tradebot.engine")


class SideJobs:
    """The state of the journal, the recorder and the log file, for the header."""

    def __init__(
        self,
        trader: Trader,
        recorder: TickRecorder | None,
        context: Context,
        supervisor: Supervisor,
    ) -> None:
        self._supervisor = supervisor
        self._trader = trader
        self._recorder = recorder
        self._notice = context.notice
        self._changed = context.changed
        self._journal_problem = ""

    def journal_down(self, why: str) -> None:
        """A journal write failed: entries pause until one goes through."""
        self._journal_problem = "journal cannot be written"
        if self._trader.gate.pause(Pause.JOURNAL, why):
            log.error("the journal cannot be written (%s): entries paused until it can", why)
            self._changed()

    def journal_up(self) -> None:
        """A journal write went through again."""
        self._journal_problem = ""
        if self._trader.gate.release(Pause.JOURNAL):
            log.info("the journal can be written again: its pause of entries is lifted")
            self._notice(wording.journal_back(r.value for r in self._trader.gate.reasons))
        self._changed()

    def problems(self) -> tuple[str, ...]:
        """What fails right now, in a few words each."""
        found = (
            self._journal_problem,
            self._recorder.problem if self._recorder is not None else "",
            log_file_problem(),
            *self._supervisor.problems(),
        )
        return tuple(p for p in found if p)
