"""Toasts: the engine's notices and the log's errors as notifications, a burst summed up.

At most `NOTICES_AT_ONCE` toasts per `NOTICE_WINDOW_S`: a fast replay or a burst of fills
is summed up in one toast instead of covering the screen. The answer to the trader's own
command is always shown.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from textual.app import App

from tradebot_tui.engine import LogRing

if TYPE_CHECKING:
    from tradebot_tui.engine import EngineSnapshot

# At most this many notifications in a window; the rest are summed up in one.
NOTICES_AT_ONCE = 4
NOTICE_WINDOW_S = 5.0


class Toasts:
    """What has been shown already, and how many toasts the window holds."""

    def __init__(self, log_ring: LogRing) -> None:
        self._log_ring = log_ring
        self._notice_seq = 0
        self._error_seq = 0
        self._toast_times: deque[float] = deque()
        self._held_back = 0

    def show(self, app: App[Any], snap: EngineSnapshot) -> None:
        """Fills, exits and command results from the engine; errors from the log.

        At most `NOTICES_AT_ONCE` toasts per `NOTICE_WINDOW_S`: a fast replay or a burst
        of fills is summed up in one toast instead of covering the screen.
        """
        toasts: list[tuple[str, str, str]] = []
        fresh = [n for n in snap.notices if n.seq > self._notice_seq]
        if fresh:
            self._notice_seq = fresh[-1].seq
            for n in fresh:
                if n.answer:  # the result of the trader's own command: always shown
                    app.notify(n.message, title=n.title, severity=n.severity)  # type: ignore[arg-type]
                else:
                    toasts.append((n.title, n.message, n.severity))
        if snap.log_seq > self._error_seq:
            toasts += [
                ("Error", line.message, "error")
                for line in self._log_ring.since(self._error_seq)
                if line.level in ("ERROR", "CRITICAL")
            ]
            self._error_seq = snap.log_seq
        now = time.monotonic()
        while self._toast_times and now - self._toast_times[0] > NOTICE_WINDOW_S:
            self._toast_times.popleft()
        for title, message, severity in toasts:
            if len(self._toast_times) >= NOTICES_AT_ONCE:
                self._held_back += 1
                continue
            self._toast_times.append(now)
            app.notify(message, title=title, severity=severity)  # type: ignore[arg-type]
        if self._held_back and len(self._toast_times) < NOTICES_AT_ONCE:
            self._toast_times.append(now)
            app.notify(
                f"{self._held_back} more event(s): the orders and logs screens have them all.",
                title="Busy",
            )
            self._held_back = 0
