"""Downloading candle history: the pieces every pair is missing, fetched in parallel
within a bound, each file then extended and written whole (see data.history)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tradebot_tui.data.history import (
    Candles,
    ChecksumMismatch,
    Fetch,
    FetchFailed,
    HistoryError,
    Outcome,
    Piece,
    assemble,
    missing_pieces,
    read_history,
    write_history,
)


@dataclass(slots=True)
class Job:
    """One pair's file and what to fill it with."""

    pair: str
    path: Path
    fetch: Fetch
    pieces: Sequence[Piece]
    start_ms: int
    end_ms: int
    period_ms: int
    results: dict[Piece, Candles | BaseException | None] = field(default_factory=dict)


class Progress:
    """One line on a terminal, redrawn at most ten times a second: pieces done of all,
    the piece just done, the time left at the pace so far."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.total > 0 and self.stream.isatty()
        self.started = self.shown = time.monotonic()

    def step(self, label: str) -> None:
        self.done += 1
        now = time.monotonic()
        if not self.live or (now - self.shown < 0.1 and self.done < self.total):
            return
        self.shown = now
        rate = self.done / max(now - self.started, 1e-6)
        left = (self.total - self.done) / rate if rate else 0.0
        width = 24
        filled = width * self.done // self.total
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(
            f"\r[{bar}] {self.done}/{self.total} {label:<22.22} ETA {int(left) // 60}:"
            f"{int(left) % 60:02d} "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()


def download(
    jobs: Sequence[Job],
    *,
    workers: int,
    progress: Callable[[int], Progress] = Progress,
) -> list[Outcome]:
    """Fetch what each job's file lacks and write the files.

    A checksum that does not match, or an archive that is not one, stops every download
    and writes nothing of that pair; a failed fetch stops that file's growth at it
    (what came before is written). Ctrl+C writes what is complete and re-raises.

    Raises:
        HistoryError: a file that exists cannot be read (before anything is fetched).
    """
    plans = []
    for job in jobs:
        have = read_history(job.path)
        before, after = missing_pieces(job.pieces, have, job.start_ms, job.end_ms, job.period_ms)
        plans.append((job, have, before, after))
    todo = [
        (job, piece)
        for job, _, before, after in plans
        for piece in dict.fromkeys([*before, *after])
    ]
    bar = progress(len(todo))
    stopped: dict[str, str] = {}  # pair -> why nothing of it is written
    interrupted = False
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="download")
    running: dict[Future[Candles | None], tuple[Job, Piece]] = {
        pool.submit(job.fetch, piece): (job, piece) for job, piece in todo
    }
    try:
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job, piece = running.pop(future)
                if future.cancelled():
                    continue
                error = future.exception()
                if isinstance(error, ChecksumMismatch | HistoryError):
                    stopped.setdefault(job.pair, str(error))
                    for other in running:
                        other.cancel()
                elif error is not None and not isinstance(error, FetchFailed):
                    error = FetchFailed(f"{piece.label}: {type(error).__name__}: {error}")
                job.results[piece] = error if error is not None else future.result()
                bar.step(f"{job.pair} {piece.label}")
    except KeyboardInterrupt:
        interrupted = True
        for other in running:
            other.cancel()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    outcomes = [
        _finish(job, have, before, after, stopped.get(job.pair))
        for job, have, before, after in plans
    ]
    if interrupted:
        raise KeyboardInterrupt
    return outcomes


def _finish(
    job: Job,
    have: Candles | None,
    before: list[Piece],
    after: list[Piece],
    stopped: str | None,
) -> Outcome:
    wanted = {*before, *after}
    outcome = Outcome(job.pair, job.path, already=len(job.pieces) - len(wanted))
    if have is not None and len(have):
        outcome.span = (have.ts[0], have.ts[-1])
        outcome.candles = len(have)
    if stopped is not None:
        outcome.checksum = stopped
        return outcome
    merged, used, empty, failure = assemble(
        have, before, after, job.results, job.start_ms, job.end_ms
    )
    outcome.fetched, outcome.empty, outcome.failure = used - empty, empty, failure
    if failure is None and any(p not in job.results for p in wanted):
        outcome.failure = "stopped before every piece was fetched"
    if merged is not None:
        write_history(job.path, merged)
        outcome.added = len(merged) - outcome.candles
        outcome.candles = len(merged)
        outcome.span = (merged.ts[0], merged.ts[-1])
    return outcome
