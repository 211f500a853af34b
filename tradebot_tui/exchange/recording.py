"""The app's own tick recordings: gzip-compressed JSON lines, replayable by `replay`.

Line 1 is a header object, every other line one tick as a JSON array:

    {"format": "tradebot-ticks", "version": 1}
    [1767225600000, "BTC/USDT", 78123.45]
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import IO

from tradebot_tui.core.ticks import Tick

FORMAT = "tradebot-ticks"
VERSION = 1
SUFFIXES = (".jsonl", ".jsonl.gz")


class RecordingWriter:
    """Append ticks to one recording file (gzip when the name ends in .gz)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
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
        self.count += len(ticks)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
