"""Side jobs never stop trading: their problems are shown, and a failing journal pauses entries.

The journal, the tick recorder and the log file run beside trading. When one fails it is
reported (the log, the header) and retried by itself; trading goes on. The journal is
the one that changes what the engine does: an order must be on disk before it is sent,
so while the journal cannot be written, new entries pause (exits go on), and they resume
by themselves once a write goes through again, unless the trader paused them meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.logs import log_file_problem
from tradebot_tui.engine.recorder import TickRecorder
from tradebot_tui.engine.wording import NoticeText

log = logging.getLogger("tradebot.engine")


class SideJobs:
    """The state of the journal, the recorder and the log file, for the header."""

    def __init__(
        self,
        trader: Trader,
        recorder: TickRecorder | None,
        *,
        notice: Callable[[NoticeText], None],
        changed: Callable[[], None],
    ) -> None:
        self._trader = trader
        self._recorder = recorder
        self._notice = notice
        self._changed = changed
        self._journal_problem = ""
        self._paused_entries = False  # entries were paused here, not by the trader

    def journal_down(self, why: str) -> None:
        """A journal write failed: entries pause until one goes through."""
        self._journal_problem = "journal cannot be written"
        if not self._trader.paused:
            self._trader.paused = self._paused_entries = True
            log.error("the journal cannot be written (%s): entries paused until it can", why)
            self._changed()

    def journal_up(self) -> None:
        """A journal write went through again."""
        self._journal_problem = ""
        if self._paused_entries and self._trader.paused:
            self._trader.paused = self._paused_entries = False
            log.info("the journal can be written again: entries resume")
            self._notice(wording.journal_back())
        self._changed()

    def problems(self) -> tuple[str, ...]:
        """What fails right now, in a few words each."""
        found = (
            self._journal_problem,
            self._recorder.problem if self._recorder is not None else "",
            log_file_problem(),
        )
        return tuple(p for p in found if p)
