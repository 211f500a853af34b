"""Recording live ticks to rotating files, off the event loop, once a second."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import trio

from tradebot_tui.core.ticks import Tick

log = logging.getLogger("tradebot.engine")

# Ticks waiting for the recorder (a second of a busy feed); beyond this they are dropped.
RECORD_BUFFER = 200_000


class TickRecorder:
    """Buffers the engine's live ticks and writes them to gzip files in a worker thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.recorded = 0
        self._buffer: list[Tick] = []

    def add(self, ticks: Sequence[Tick]) -> None:
        """Queue live ticks (dropped beyond `RECORD_BUFFER` waiting)."""
        if len(self._buffer) < RECORD_BUFFER:
            self._buffer.extend(ticks)

    async def run(self) -> None:
        """Write what is queued once a second until cancelled; then the rest, shielded."""
        from tradebot_tui.exchange.recording import RotatingRecorder

        recorder = RotatingRecorder(self.folder)
        log.info("recording ticks to %s", self.folder)
        try:
            while True:
                await trio.sleep(1.0)
                batch, self._buffer = self._buffer, []
                if batch:
                    await trio.to_thread.run_sync(recorder.write, batch)
                    self.recorded += len(batch)
        finally:
            with trio.CancelScope(shield=True):
                batch, self._buffer = self._buffer, []
                await trio.to_thread.run_sync(recorder.write, batch)
                await trio.to_thread.run_sync(recorder.close)
                self.recorded += len(batch)
