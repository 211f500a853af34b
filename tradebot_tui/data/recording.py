"""The app's own tick recordings: gzip-compressed JSON lines, replayable by `replay`.

Line 1 is a header object, every other line one tick as a JSON array:

    {"format": "tradebot-ticks", "version": 1}
    [1767225600000, "BTC/USDT", 78123.45]
"""

from __future__ import annotations

import contextlib
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from tradebot_tui.config.files import private_dir, private_file
from tradebot_tui.core.ticks import Tick

FORMAT = "tradebot-ticks"
VERSION = 1
SUFFIXES = (".jsonl", ".jsonl.gz")


class RecordingWriter:
    """Append ticks to one recording file (gzip when the name ends in .gz)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        private_file(path)  # owner only; opening it below keeps the mode
        # The writer owns the file for its whole life (closed by close() or `with`).
        self._fh: IO[str] = (
            gzip.open(path, "wt", encoding="utf-8")  # noqa: SIM115
            if path.name.endswith(".gz")
            else path.open("w", encoding="utf-8")
        )
        self._fh.write(json.dumps({"format": FORMAT, "version": VERSION}) + "\n")
        self.count = 0

    def write(self, ticks: list[Tick]) -> None:
        fh = self._fh
        for ts, symbol, price in ticks:
            fh.write(f"[{ts}, {json.dumps(symbol)}, {price!r}]\n")
        # A sync flush per batch: a run killed later leaves a file readable up to here.
        fh.flush()
        self.count += len(ticks)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RotatingRecorder:
    """Recordings in a folder, a new gzip file every `max_ticks` ticks or `max_age_s`.

    Files are named `ticks-YYYYMMDD-HHMMSS.jsonl.gz` (UTC, first tick's time), so that a
    sorted listing is in time order and `tradebot-tui replay DIR/*.jsonl.gz` replays all.
    """

    def __init__(
        self, folder: Path, *, max_ticks: int = 1_000_000, max_age_s: float = 3600
    ) -> None:
        self.folder = folder
        self.max_ticks = max_ticks
        self.max_age_ms = int(max_age_s * 1000)
        self._writer: RecordingWriter | None = None
        self._opened_ms = 0
        self.files: list[Path] = []
        self.count = 0

    def write(self, ticks: list[Tick]) -> None:
        if not ticks:
            return
        private_dir(self.folder)
        writer = self._writer
        first = ticks[0].ts_ms
        if (
            writer is None
            or writer.count >= self.max_ticks
            or first - self._opened_ms >= self.max_age_ms
        ):
            self.close()
            stamp = datetime.fromtimestamp(first / 1000, UTC).strftime("%Y%m%d-%H%M%S")
            path = self.folder / f"ticks-{stamp}.jsonl.gz"
            n = 1
            while path.exists():
                path = self.folder / f"ticks-{stamp}-{n}.jsonl.gz"
                n += 1
            writer = self._writer = RecordingWriter(path)
            self._opened_ms = first
            self.files.append(path)
        try:
            writer.write(ticks)
        except BaseException:
            # A broken file is left as it is (readable up to its last flush); the next
            # write starts a new one.
            self._writer = None
            with contextlib.suppress(Exception):
                writer.close()
            raise
        self.count += len(ticks)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
