"""A terminal driver whose input thread ends as soon as input is disabled.

Textual's LinuxDriver reads stdin in a thread that polls with `select(0.1)` and, once told
to stop, sleeps one more 0.1 s on an emptied selector; quitting joins that thread, so every
quit waited up to 0.2 s for nothing (measured with py-spy: 157 ms of a 368 ms quit). This
driver adds a wake-up pipe to the thread's selector: setting the exit event writes to it,
so the thread sees the stop at once. Reading and parsing input is Textual's own code path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import selectors
from codecs import getincrementaldecoder
from threading import Event
from typing import Any

from textual._loop import loop_last
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

log = logging.getLogger("tradebot.ui")

# How long a stop waits for the writer thread to take its last frames to the terminal.
WRITER_STOP_S = 2.0


class _WakingEvent(Event):
    """A threading.Event that also makes a pipe readable when set."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd = wake_fd

    def set(self) -> None:
        super().set()
        # A closed or full pipe means the thread is already waking.
        with contextlib.suppress(OSError):
            os.write(self._wake_fd, b"\0")


class QuickExitDriver(LinuxDriver):
    """LinuxDriver with an input thread that stops without polling delays."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.exit_event = _WakingEvent(self._wake_write)
        self.terminal_gone = False  # the writer thread died: nothing reaches the terminal
        self._frames_dropped = False

    def run_input_thread(self) -> None:
        """Wait for input (or the wake-up pipe) and dispatch events."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ, data="input")
        selector.register(self._wake_read, selectors.EVENT_READ, data="wake")
        fileno = self.fileno
        parser = XTermParser(self._debug)
        feed, tick = parser.feed, parser.tick
        decode = getincrementaldecoder("utf-8")().decode

        def process(ready: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            inputs = [(key, mask) for key, mask in ready if key.data == "input"]
            for last, (_key, mask) in loop_last(inputs):
                if mask & selectors.EVENT_READ:
                    data = decode(os.read(fileno, 1024 * 4), final=final and last)
                    if not data:  # stdin is piped and ended
                        break
                    for event in feed(data):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                ready = selector.select(0.1)
                if any(key.data == "wake" for key, _ in ready):
                    self._drain_wake()
                process(ready)
            # Whatever input is already waiting is read once more, without waiting.
            process(selector.select(0), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except Exception:  # EOFError or a parse error of a cut-off sequence
                pass

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_read, 512):
                pass
        except BlockingIOError:
            pass

    def write(self, data: str) -> None:
        """Hand `data` to the writer thread without ever blocking the event loop.

        The engine runs on this loop: Textual's writer waits while its queue of 30 frames
        is full, which froze trading (exits included) once the terminal stopped reading,
        and forever once it was gone (the thread dies on its first failed write). A frame
        that cannot be queued is dropped; the whole screen is drawn again once the
        terminal takes frames again. A terminal that went away takes none: the bot runs
        on, and stops on a signal as usual.
        """
        writer = self._writer_thread
        assert writer is not None, "Driver must be in application mode"
        if not writer.is_alive():
            if not self.terminal_gone:
                self.terminal_gone = True
                log.warning("the terminal went away; trading goes on (stop with SIGTERM)")
            return
        try:
            writer._queue.put_nowait(data)
        except queue.Full:
            self._frames_dropped = True
            return
        if self._frames_dropped:
            self._frames_dropped = False
            self._app.call_later(self._app.refresh, repaint=True, layout=True)

    def disable_input(self) -> None:
        super().disable_input()
        # Textual clears the event after joining; a later enable_input starts a new
        # thread, which must not see a stale wake-up.
        self._drain_wake()

    def close(self) -> None:
        writer = self._writer_thread
        if writer is not None and not writer.is_alive():
            # It died on a write to a terminal that went away (ssh dropped, window
            # closed): the frames after it fill its queue, and Textual's `stop` waited
            # forever to queue its end. Nothing can be restored on that terminal.
            self._writer_thread = None
        elif writer is not None:
            try:  # alive, but a terminal that reads nothing may never drain it
                writer._queue.put(None, timeout=WRITER_STOP_S)
            except queue.Full:
                pass
            else:
                writer.join(WRITER_STOP_S)
            self._writer_thread = None
        super().close()
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)
