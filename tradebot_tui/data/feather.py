"""freqtrade's feather candle files: streamed by the lean reader (data.arrow_ipc) a
chunk at a time, or read whole (by pyarrow for the shapes the lean reader leaves)."""

from __future__ import annotations

import operator
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any, NoReturn

from tradebot_tui.data import arrow_ipc
from tradebot_tui.data.series import _FREQTRADE_NAME, CandleSeries, DataFileError, period_ms

CHUNK_ROWS = 10_000  # candles of one file held at once by a stream (a week of 1m)
CANDLE_COLUMNS = ("date", "open", "high", "low", "close")


@dataclass(slots=True)
class CandleStream:
    """A freqtrade feather file read a chunk of candles at a time (`arrow_ipc`): the
    headless replay holds `CHUNK_ROWS` candles per file, whatever the span of the data.
    Made by `open_candle_stream` after a scan of the file's times; each chunk's values
    are checked as it is read (a bad row stops the replay with pyarrow's diagnosis)."""

    path: Path
    symbol: str
    period_ms: int
    rows: int
    first_ms: int
    last_ms: int
    aligned: bool  # every candle starts on a multiple of the period

    @property
    def symbols(self) -> list[str]:
        return [self.symbol]

    def __len__(self) -> int:
        return self.rows

    def span(self) -> tuple[int, int] | None:
        """The first and last moment its ticks fall on."""
        return self.first_ms, self.last_ms + self.period_ms - 1

    def chunks(self, rows: int | None = None) -> Iterator[CandleSeries]:
        """The candles, `rows` at a time (`CHUNK_ROWS`, read when called)."""
        rows = rows or CHUNK_ROWS
        last = None
        try:
            file = arrow_ipc.ArrowFile(self.path, CANDLE_COLUMNS)
            for cols in file.chunks(rows):
                dates, o, h, low, c = (cols[n] for n in CANDLE_COLUMNS)
                if not len(dates):
                    continue  # an empty record batch: a chunk is never empty
                rising = last is None or dates[0] > last
                checked = _consistent(dates, o, h, low, c, rising=bool(file.time_step))  # type: ignore[arg-type]
                if not (rising and checked):
                    self._fail()
                last = dates[-1]
                yield CandleSeries(self.path, self.symbol, self.period_ms, dates, o, h, low, c)  # type: ignore[arg-type]
        except (arrow_ipc.Unsupported, OSError):
            self._fail()

    def _fail(self) -> NoReturn:
        """Raise the DataFileError the whole-file reader gives for this file."""
        _read_feather_arrow(self.path, self.symbol, self.period_ms)
        raise DataFileError(self.path, None, "changed or damaged while it was read")

    def load(self) -> CandleSeries:
        return read_feather(self.path, self.symbol, self.period_ms)


def open_candle_stream(path: Path) -> CandleStream | None:
    """A stream of a freqtrade feather candle file the lean reader handles and whose times
    rise; None for any other input (read it with `read_file`)."""
    m = _FREQTRADE_NAME.match(path.name)
    if m is None or m["ext"] != "feather" or not path.is_file():
        return None
    period = period_ms(m["tf"], path)
    first = last = None
    aligned = True
    rows = 0
    try:
        file = arrow_ipc.ArrowFile(path, ("date",))
        for cols in file.chunks(CHUNK_ROWS * 5):
            dates: array[int] = cols["date"]  # type: ignore[assignment]
            if not len(dates):
                continue
            step = file.time_step
            if (last is not None and dates[0] <= last) or (
                not step and any(map(operator.le, dates[1:], dates))
            ):
                return None  # times that do not rise: read_file names the row
            if step:
                aligned = aligned and dates[0] % period == 0 and step % period == 0
            else:
                aligned = aligned and not any(map(operator.mod, dates, repeat(period)))
            first = dates[0] if first is None else first
            last = dates[-1]
            rows += len(dates)
    except (arrow_ipc.Unsupported, OSError):
        return None
    if first is None or last is None:
        return None
    symbol = f"{m['base']}/{m['quote']}".upper()
    return CandleStream(path, symbol, period, rows, first, last, aligned)


def read_feather(path: Path, symbol: str, period: int) -> CandleSeries:
    """A freqtrade feather file: the lean reader (`arrow_ipc`) for the usual shape, with
    the columns checked at C speed; pyarrow for any other shape and for every error, so
    that a bad file gets pyarrow's exact diagnosis (row, column, values)."""
    try:
        file = arrow_ipc.ArrowFile(path, CANDLE_COLUMNS)
        cols = file.columns()
    except arrow_ipc.Unsupported:
        return _read_feather_arrow(path, symbol, period)
    dates, o, h, low, c = (cols[n] for n in CANDLE_COLUMNS)
    if not _consistent(dates, o, h, low, c, rising=bool(file.time_step)):  # type: ignore[arg-type]
        return _read_feather_arrow(path, symbol, period)  # names the row and the problem
    return CandleSeries(path, symbol, period, dates, o, h, low, c)  # type: ignore[arg-type]


def _consistent(
    dates: array[int],
    o: array[float],
    h: array[float],
    low: array[float],
    c: array[float],
    *,
    rising: bool = False,
) -> bool:
    """Candles whose low is above 0 and below open and close, whose high is above them,
    and whose times rise: the checks of the pyarrow path, with numpy (a sixth of a
    year's replay when each was a loop of Python comparisons)."""
    import numpy as np  # loaded once per process, Optuna's dependency and ours

    if not len(dates):
        return True
    o_, h_, low_, c_ = (np.asarray(col, dtype=np.float64) for col in (o, h, low, c))
    if (low_ <= 0).any() or (h_ < o_).any() or (h_ < c_).any():
        return False
    if (low_ > o_).any() or (low_ > c_).any():
        return False
    return (
        rising
        or bool(arrow_ipc.evenly_spaced(dates))
        or not any(map(operator.le, dates[1:], dates))
    )


def _read_feather_arrow(path: Path, symbol: str, period: int) -> CandleSeries:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.feather as feather
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise DataFileError(path, None, "reading .feather files needs pyarrow") from None
    columns = ["date", "open", "high", "low", "close"]
    try:
        table = feather.read_table(path, columns=columns, memory_map=True, use_threads=False)
    except (pa.ArrowInvalid, OSError, KeyError) as exc:
        raise DataFileError(path, None, f"not a freqtrade feather file: {exc}") from None
    for name in columns:
        if table.column(name).null_count:
            nulls = pc.is_null(table.column(name))
            row = pc.index(nulls, True).as_py()
            raise DataFileError(path, f"row {row}", f"{name} is empty")
    try:
        dates = pc.cast(table.column("date"), pa.timestamp("ms", tz="UTC")).cast(pa.int64())
    except pa.ArrowInvalid as exc:
        raise DataFileError(path, None, f"date column: {exc}") from None
    o, h, low, c = (table.column(n).cast(pa.float64()) for n in columns[1:])
    bad = pc.or_(
        pc.or_(pc.less_equal(low, 0), pc.less(h, pc.max_element_wise(o, c))),
        pc.greater(low, pc.min_element_wise(o, c)),
    )
    if pc.any(bad).as_py():
        row = pc.index(bad, True).as_py()
        raise DataFileError(
            path,
            f"row {row}",
            f"inconsistent candle: open {o[row]}, high {h[row]}, low {low[row]}, close {c[row]}",
        )
    if len(dates) > 1:
        backwards = pc.less_equal(dates.slice(1), dates.slice(0, len(dates) - 1))
        if pc.any(backwards).as_py():
            i = pc.index(backwards, True).as_py() + 1
            raise DataFileError(path, f"row {i}", f"time {dates[i]} is not after {dates[i - 1]}")
    return CandleSeries(
        path,
        symbol,
        period,
        _to_array("q", dates),
        _to_array("d", o),
        _to_array("d", h),
        _to_array("d", low),
        _to_array("d", c),
    )


def _to_array(typecode: str, column: Any) -> array[Any]:
    """Copy an Arrow column of 8-byte numbers into an array.array, without boxing."""
    import pyarrow as pa

    chunk = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    out = array(typecode)
    if len(chunk):
        start = chunk.offset * out.itemsize
        out.frombytes(memoryview(chunk.buffers()[1])[start : start + len(chunk) * out.itemsize])
    return out
