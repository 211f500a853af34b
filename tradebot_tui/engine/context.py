"""What every part of a running engine shares: its clock, the notices it shows the
trader, and the signal that something changed.

One object instead of the same three callbacks handed to each part: the router, the
controller, the healer, the watchkeeper, the side jobs and recovery all take the
context. Services off the trading path (the owner's notifications) listen to the
notices through it; the engine never needs to know them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

from tradebot_tui.engine.wording import NoticeText

NoticeListener = Callable[[int, NoticeText], None]


def wall_ms() -> int:
    return int(time.time() * 1000)


class Context:
    """Engine time, notices and the change signal of one engine."""

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self._clock = clock or wall_ms
        # The timestamp of the last tick handled: engine time runs no slower than the data
        # (a replay's clock is its data).
        self.last_tick_ms = 0
        self._changed = trio.Event()
        self._listeners: list[NoticeListener] = []

    def now(self) -> int:
        """Engine time (ms): the clock, or the last tick's timestamp when that is later."""
        clock = self._clock()
        return self.last_tick_ms if self.last_tick_ms > clock else clock

    def listen(self, listener: NoticeListener) -> None:
        """Call `listener(ts_ms, notice)` with every notice from now on."""
        self._listeners.append(listener)

    def notice(self, text: NoticeText) -> None:
        """Tell the trader something now (the app shows it; listeners hear it)."""
        now = self.now()
        for listener in self._listeners:
            listener(now, text)
        self._changed.set()

    def changed(self) -> None:
        """Something the screens show changed: a snapshot is due."""
        self._changed.set()

    async def wait_changed(self) -> None:
        """Until something changed since the last wait."""
        await self._changed.wait()
        self._changed = trio.Event()
