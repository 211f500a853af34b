"""Recording live ticks to rotating files, off the event loop, once a second.

A side job: when writing fails (a full disk, the recordings path taken by a file), the
failure is logged and shown in the header, the ticks wait (up to `RECORD_BUFFER`), and the
write is tried again each second; trading goes on regardless. Each batch is flushed, so a
run killed mid-way leaves a file readable up to its last complete line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.ticks import Tick

log = logging.getLogger("tradebot.engine")

# Ticks waiting for the recorder (a second of a busy feed); beyond this they are dropped.
RECORD_BUFFER = 200_000


class TickRecorder:
    """Buffers the engine's live ticks and writes them to gzip files in a worker thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.recorded = 0
        self.dropped = 0
        self.problem = ""  # why recording fails right now ("" when it works)
        self._buffer: list[Tick] = []

    def add(self, ticks: Sequence[Tick]) -> None:
        """Queue live ticks (dropped beyond `RECORD_BUFFER` waiting)."""
        if len(self._buffer) < RECORD_BUFFER:
            self._buffer.extend(ticks)
        else:
            self.dropped += len(ticks)

    async def run(self) -> None:
        """Write what is queued once a second until cancelled; then the rest, shielded."""
        from tradebot_tui.data.recording import RotatingRecorder

        recorder = RotatingRecorder(self.folder)
        log.info("recording ticks to %s", self.folder)
        try:
            while True:
                await trio.sleep(1.0)
                await self._write(recorder)
        finally:
            with trio.CancelScope(shield=True):
                await self._write(recorder)
                try:
                    await trio.to_thread.run_sync(recorder.close)
                except Exception as exc:
                    log.error("recording: closing the file failed: %s", error_text(exc))

    async def _write(self, recorder: object) -> None:
        # The batch is taken out of the buffer: ticks the engine adds while the thread
        # writes go to a new list (they used to join the list being written and could be
        # counted as recorded without being written).
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        try:
            await trio.to_thread.run_sync(recorder.write, batch)  # type: ignore[attr-defined]
        except Exception as exc:  # a side job: report, keep the ticks, try again
            self._buffer = batch + self._buffer
            if not self.problem:
                log.error(
                    "recording ticks failed (%s); trading goes on, retried every second",
                    error_text(exc),
                )
            self.problem = f"recording failing: {error_text(exc, 60)}"
            return
        if self.problem:
            log.info("recording ticks again (%d ticks were waiting)", len(batch))
            self.problem = ""
        self.recorded += len(batch)
