"""Candle history kept on disk in freqtrade's layout and format, and filled from a source.

A data dir holds one file per pair and timeframe, `BTC_USDT-1m.feather`: freqtrade's
own (`download-data` writes the same shape: `date` as UTC nanoseconds, then open,
high, low, close and volume as float64, LZ4-compressed Arrow), so a freqtrade user
points either program at the other's folder. See docs/replay-and-tune.md,
"Downloading history".

A file is one contiguous span of time (the exchange's own gaps aside): a download only
extends it before its first candle or after its last, one archive (or page) after
another, and stops at the first that fails. What is in the file is therefore never
fetched again, and an interrupted download resumes where it stopped. Files are written
whole to a temporary name and renamed: a cut download leaves the old file or the new
one, never half of one.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tradebot_tui.core.errors import TradebotError

COLUMNS = ("open", "high", "low", "close", "volume")
TIMEFRAMES = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
_PAIR = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$")
_DAY = re.compile(r"^\d{8}$")


class HistoryError(TradebotError):
    """What the user asked for cannot be had (a pair, a timeframe, a range, a file)."""


class FetchFailed(Exception):
    """One archive or page could not be fetched (the network, the server): what came
    before it is kept, and a later run goes on from there."""


class ChecksumMismatch(Exception):
    """An archive's bytes do not match its published checksum: nothing of that pair is
    written."""


@dataclass(slots=True)
class Candles:
    """Candles in time order: open times in epoch ms and one float column each."""

    ts: array[int] = field(default_factory=lambda: array("q"))
    open: array[float] = field(default_factory=lambda: array("d"))
    high: array[float] = field(default_factory=lambda: array("d"))
    low: array[float] = field(default_factory=lambda: array("d"))
    close: array[float] = field(default_factory=lambda: array("d"))
    volume: array[float] = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.ts)

    def append(self, ts: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        self.ts.append(ts)
        self.open.append(o)
        self.high.append(h)
        self.low.append(lo)
        self.close.append(c)
        self.volume.append(v)

    def within(self, start_ms: int, end_ms: int) -> Candles:
        """The candles opening in [start_ms, end_ms)."""
        ts = self.ts
        lo = _bisect(ts, start_ms)
        hi = _bisect(ts, end_ms)
        if lo == 0 and hi == len(ts):
            return self
        return Candles(
            ts[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
        )

    def columns(
        self,
    ) -> tuple[array[int], array[float], array[float], array[float], array[float], array[float]]:
        return self.ts, self.open, self.high, self.low, self.close, self.volume

    def extend(self, other: Candles) -> None:
        self.ts.extend(other.ts)
        for mine, theirs in zip(self.values(), other.values(), strict=True):
            mine.extend(theirs)

    def values(self) -> tuple[array[float], ...]:
        """The float columns, in COLUMNS' order."""
        return self.open, self.high, self.low, self.close, self.volume


def _bisect(ts: array[int], value: int) -> int:
    lo, hi = 0, len(ts)
    while lo < hi:
        mid = (lo + hi) // 2
        if ts[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


# -- what is asked ---------------------------------------------------------------------------


def parse_pairs(text: str) -> list[str]:
    """`BTC/USDT,ETH/USDT` as a list (upper-cased, duplicates dropped)."""
    pairs: list[str] = []
    for part in text.split(","):
        pair = part.strip().upper()
        if not pair:
            continue
        if not _PAIR.match(pair):
            raise HistoryError(f"--pairs: {part.strip()!r} is not a pair like BTC/USDT")
        if pair not in pairs:
            pairs.append(pair)
    if not pairs:
        raise HistoryError("--pairs: no pair given (for example BTC/USDT,ETH/USDT)")
    return pairs


def timeframe_ms(timeframe: str, known: Sequence[str] = tuple(TIMEFRAMES)) -> int:
    if timeframe not in TIMEFRAMES or timeframe not in known:
        raise HistoryError(
            f"--timeframe {timeframe!r} is not one this source has ({', '.join(known)})"
        )
    return TIMEFRAMES[timeframe]


def _day_ms(text: str, what: str) -> int:
    if not _DAY.match(text):
        raise HistoryError(f"--timerange: {what} {text!r} is not a date like 20240131")
    try:
        when = datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise HistoryError(f"--timerange: {what} {text!r} is not a date") from None
    return int(when.timestamp() * 1000)


def parse_timerange(text: str) -> tuple[int, int | None]:
    """freqtrade's `--timerange`: `20240101-20241231` is from the start of the first day
    up to (not including) the start of the second; `20240101-` is up to now.

    Returns:
        (start ms, end ms or None for now).
    """
    value = text.strip()
    first, dash, last = value.partition("-")
    if not dash or not first:
        raise HistoryError(
            f"--timerange {text!r}: expected START-END or START- as dates, like 20240101-20241231"
        )
    start = _day_ms(first, "start")
    end = _day_ms(last, "end") if last else None
    if end is not None and end <= start:
        raise HistoryError(f"--timerange {text!r}: the end is not after the start")
    return start, end


def clip_to_now(start_ms: int, end_ms: int | None, period: int, now_ms: int) -> int:
    """The end of a range, clipped to the last whole candle before now.

    Raises:
        HistoryError: the range starts in the future.
    """
    if start_ms >= now_ms:
        raise HistoryError(
            f"--timerange starts at {utc_day(start_ms)}, in the future: nothing to download"
        )
    last_closed = now_ms // period * period  # the candle open now is not over
    return last_closed if end_ms is None else min(end_ms, last_closed)


def utc_day(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")


def utc_minute(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


# -- the files ---------------------------------------------------------------------------------


def file_name(pair: str, timeframe: str) -> str:
    """freqtrade's name: `BTC/USDT`, `1m` -> `BTC_USDT-1m.feather`."""
    return f"{pair.replace('/', '_')}-{timeframe}.feather"


def read_history(path: Path) -> Candles | None:
    """A history file's candles (None when there is none yet).

    Raises:
        HistoryError: the file exists but cannot be read as candles (it is left alone).
    """
    if not path.exists():
        return None
    import pyarrow as pa
    import pyarrow.feather as feather

    try:
        table = feather.read_table(path, columns=["date", *COLUMNS])
        dates = table.column("date")
        if not pa.types.is_timestamp(dates.type):
            raise ValueError(f"its date column is {dates.type}, not a timestamp")
        ms = dates.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64())
        candles = Candles(array("q", ms.to_pylist()))
        for name, column in zip(COLUMNS, candles.values(), strict=True):
            column.extend(table.column(name).cast(pa.float64()).to_pylist())
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise HistoryError(
            f"{path}: not a candle file this can extend ({exc}); move it aside to download it again"
        ) from None
    if any(b <= a for a, b in zip(candles.ts, candles.ts[1:], strict=False)):
        raise HistoryError(f"{path}: its candles are not in time order; move it aside")
    return candles


def write_history(path: Path, candles: Candles) -> None:
    """Write the whole file under a temporary name, flush it to disk, then rename it."""
    import pyarrow as pa
    import pyarrow.feather as feather

    count = len(candles)
    date = pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(candles.ts)])
    columns = {"date": date.cast(pa.timestamp("ms", tz="UTC")).cast(pa.timestamp("ns", tz="UTC"))}
    for name, column in zip(COLUMNS, candles.values(), strict=True):
        columns[name] = pa.Array.from_buffers(pa.float64(), count, [None, pa.py_buffer(column)])
    table = pa.table(columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            feather.write_feather(table, out, compression="lz4", compression_level=9)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- filling a file ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Piece:
    """What one request brings: an archive (a month, a day) or a page of candles."""

    label: str
    start_ms: int
    end_ms: int


@dataclass(slots=True)
class Outcome:
    """One pair's download: what was fetched, what was there, what stopped it."""

    pair: str
    path: Path
    fetched: int = 0
    already: int = 0
    empty: int = 0  # pieces the source has nothing for (before a listing, say)
    candles: int = 0
    span: tuple[int, int] | None = None
    added: int = 0
    failure: str | None = None
    checksum: str | None = None


def missing_pieces(
    pieces: Sequence[Piece], have: Candles | None, start_ms: int, end_ms: int, period: int
) -> tuple[list[Piece], list[Piece]]:
    """The pieces to fetch before the file's first candle (latest first) and after its
    last (earliest first); a piece the file covers is neither."""
    if have is None or not len(have):
        return [], [p for p in pieces if p.end_ms > start_ms and p.start_ms < end_ms]
    first, last = have.ts[0], have.ts[-1]
    before = [p for p in pieces if p.start_ms < first and max(p.start_ms, start_ms) < first]
    after = [p for p in pieces if min(p.end_ms, end_ms) - period > last and p.start_ms < end_ms]
    return sorted(before, key=lambda p: -p.start_ms), sorted(after, key=lambda p: p.start_ms)


Fetch = Callable[[Piece], Candles | None]  # None: the source has nothing for that piece


def assemble(
    have: Candles | None,
    before: Sequence[Piece],
    after: Sequence[Piece],
    results: dict[Piece, Candles | BaseException | None],
    start_ms: int,
    end_ms: int,
) -> tuple[Candles | None, int, int, str | None]:
    """The file's new candles: the old ones extended by each side's pieces in order, up to
    the first piece that failed on that side.

    Returns:
        (the candles, or None when nothing changes; pieces used; pieces empty; the first
        failure's text).
    """
    failure: str | None = None
    used = empty = 0
    sides: list[list[Candles]] = [[], []]
    for side, pieces in enumerate((before, after)):
        for piece in pieces:
            got = results.get(piece)
            if isinstance(got, BaseException) or piece not in results:
                if failure is None and isinstance(got, BaseException):
                    failure = f"{piece.label}: {got}"
                break
            used += 1
            if got is None or not len(got):
                empty += 1
                continue
            sides[side].append(got.within(start_ms, end_ms))
    if not any(len(c) for side in sides for c in side):
        return None, used, empty, failure
    merged = Candles()
    first = have.ts[0] if have is not None and len(have) else None
    last = have.ts[-1] if have is not None and len(have) else None
    for part in reversed(sides[0]):  # fetched latest first
        merged.extend(part if first is None else part.within(-(2**62), first))
    if have is not None:
        merged.extend(have)
    for part in sides[1]:
        merged.extend(part if last is None else part.within(last + 1, 2**62))
    ts = merged.ts
    if any(b <= a for a, b in itertools.pairwise(ts)):
        raise HistoryError("the fetched candles overlap or are out of order: nothing written")
    return merged, used, empty, failure
