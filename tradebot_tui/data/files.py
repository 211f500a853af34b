"""Replay input files, read into compact columns (array.array, 8 bytes a value).

Formats, told apart by name and first line:
  - tick CSV with the header `ts_ms,symbol,price` (any extension .csv, .csv.gz);
  - freqtrade OHLCV: `BTC_USDT-1m.feather` and `BTC_USDT-1m.json` (.json.gz);
  - freqtrade trades: `XRP_ETH-trades.json.gz` (tick data);
  - Binance Vision klines: `BTCUSDT-1m-2025-04.csv` (.csv.gz, .zip), no header,
    open times in milliseconds or, from 2025 on, microseconds;
  - the app's own recordings (`*.jsonl`, `*.jsonl.gz`).

Every problem is a DataFileError that names the file and the line (or row) at fault.
Nothing here fills gaps: a missing candle stays missing.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import logging
import math
import operator
import re
import zipfile
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import IO, Any, NoReturn

from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.ticks import candle_to_ticks
from tradebot_tui.data import arrow_ipc, recording

TICK_CSV_HEADER = "ts_ms,symbol,price"
_FREQTRADE_NAME = re.compile(
    r"^(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)-(?P<tf>\d+[smhdw])"
    r"\.(?P<ext>feather|json|json\.gz)$"
)
_FREQTRADE_TRADES = re.compile(
    r"^(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)-trades\.(?P<ext>json|json\.gz)$"
)
_BINANCE_NAME = re.compile(r"^(?P<pair>[A-Z0-9]+)-(?P<tf>\d+[smhdw])-.*\.(csv|csv\.gz|zip)$")
# Quote assets, longest first so that FDUSD wins over USD.
_QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "USDP",
    "DAI",
    "BTC",
    "ETH",
    "BNB",
    "EUR",
    "TRY",
    "BRL",
    "GBP",
    "AUD",
    "JPY",
    "RUB",
    "UAH",
    "ZAR",
    "PLN",
    "RON",
    "ARS",
    "MXN",
    "COP",
    "IDR",
    "XRP",
    "DOGE",
    "TRX",
    "SOL",
)
log = logging.getLogger("tradebot.data")

_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# Binance Vision switched its kline times to microseconds on 2025-01-01.
_MICROS_ABOVE = 10**14


class DataFileError(TradebotError):
    """A replay input that cannot be used, with its place: `file:line: message`."""

    def __init__(self, path: Path, where: str | None, message: str) -> None:
        self.path = path
        self.where = where
        self.message = message
        super().__init__(f"{path}:{where}: {message}" if where else f"{path}: {message}")


@dataclass(slots=True)
class CandleSeries:
    """One symbol's candles of one period, in time order."""

    path: Path
    symbol: str
    period_ms: int
    ts: array[int] = field(default_factory=lambda: array("q"))
    open: array[float] = field(default_factory=lambda: array("d"))
    high: array[float] = field(default_factory=lambda: array("d"))
    low: array[float] = field(default_factory=lambda: array("d"))
    close: array[float] = field(default_factory=lambda: array("d"))

    @property
    def symbols(self) -> list[str]:
        return [self.symbol]

    def __len__(self) -> int:
        return len(self.ts)

    def split(self, k: int) -> tuple[CandleSeries, CandleSeries]:
        """The first `k` candles and the rest (no copy when one of them is empty)."""
        p, sym, per = self.path, self.symbol, self.period_ms
        if k >= len(self.ts):
            return self, CandleSeries(p, sym, per)
        if k <= 0:
            return CandleSeries(p, sym, per), self
        o, h, low, c, ts = self.open, self.high, self.low, self.close, self.ts
        return (
            CandleSeries(p, sym, per, ts[:k], o[:k], h[:k], low[:k], c[:k]),
            CandleSeries(p, sym, per, ts[k:], o[k:], h[k:], low[k:], c[k:]),
        )


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


@dataclass(slots=True)
class TickSeries:
    """Ticks of one or more symbols, in time order (ties in file order)."""

    path: Path
    symbols: list[str] = field(default_factory=list)
    ts: array[int] = field(default_factory=lambda: array("q"))
    symbol_index: array[int] = field(default_factory=lambda: array("I"))
    price: array[float] = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.ts)


Series = CandleSeries | TickSeries


def period_ms(timeframe: str, path: Path) -> int:
    count, unit = int(timeframe[:-1]), timeframe[-1]
    if count <= 0 or unit not in _UNIT_MS:
        raise DataFileError(path, None, f"unsupported timeframe {timeframe!r}")
    return count * _UNIT_MS[unit]


def split_pair(pair: str, path: Path) -> str:
    """`BTCUSDT` -> `BTC/USDT` by the known quote assets."""
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return f"{pair[: -len(quote)]}/{quote}"
    raise DataFileError(
        path, None, f"cannot tell base from quote in {pair!r} (known quotes: {', '.join(_QUOTES)})"
    )


def read_file(path: Path) -> Series:
    """Read one replay input, whatever its format.

    Raises:
        DataFileError: the file is missing, of an unknown format, damaged (a bad zip, a
            bad gzip, not UTF-8) or holds a bad row: named with its place.
    """
    try:
        return _read_file(path)
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise DataFileError(path, None, f"damaged file ({exc})") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(path, None, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataFileError(path, None, f"cannot read: {exc.strerror or exc}") from None


def _read_file(path: Path) -> Series:
    name = path.name
    if not path.is_file():
        raise DataFileError(path, None, "no such file")
    if name.endswith(recording.SUFFIXES):
        return read_recording(path)
    if m := _FREQTRADE_TRADES.match(name):
        return read_freqtrade_trades(path, f"{m['base']}/{m['quote']}".upper())
    if m := _FREQTRADE_NAME.match(name):
        symbol = f"{m['base']}/{m['quote']}".upper()
        period = period_ms(m["tf"], path)
        if m["ext"] == "feather":
            return read_feather(path, symbol, period)
        return read_freqtrade_json(path, symbol, period)
    if name.endswith((".csv", ".csv.gz", ".zip")):
        with _open_text(path) as fh:
            first = fh.readline().strip()
        if first.replace(" ", "") == TICK_CSV_HEADER:
            return read_tick_csv(path)
        if m := _BINANCE_NAME.match(name):
            return read_binance_klines(path, split_pair(m["pair"], path), period_ms(m["tf"], path))
        raise DataFileError(
            path,
            "1",
            f"neither a tick CSV (header {TICK_CSV_HEADER!r}) nor a Binance Vision kline "
            "file (named like BTCUSDT-1m-2025-04.csv)",
        )
    if name.endswith(".json"):
        raise DataFileError(
            path, None, "JSON candles must be named like BTC_USDT-1m.json (freqtrade's layout)"
        )
    raise DataFileError(
        path,
        None,
        "unknown format; replay reads tick CSV, freqtrade .feather/.json candles and "
        "trades, Binance Vision kline CSV and tradebot recordings (.jsonl.gz)",
    )


class _GzipUpToTheCut(io.RawIOBase):
    """The bytes of a gzip file; one cut short (a recording of a run killed mid-write) ends
    at its last complete line, with a warning naming the file, instead of an error."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("rb")
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._ready = b""  # complete lines not read yet
        self._carry = b""  # the start of a line whose end has not arrived
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._ready and not self._done:
            self._fill()
        n = min(len(buffer), len(self._ready))
        buffer[:n] = self._ready[:n]
        self._ready = self._ready[n:]
        return n

    def _fill(self) -> None:
        chunk = self._fh.read(1 << 16)
        if not chunk:
            self._done = True
            if self._z.eof:
                self._ready += self._carry  # a last line without a newline is whole
            else:
                log.warning(
                    "%s: the file is cut short (a run killed while writing it?); read up to "
                    "its last complete line",
                    self.path,
                )
            self._carry = b""
            return
        data = self._z.decompress(chunk)
        while self._z.eof and self._z.unused_data:  # the next gzip member
            rest = self._z.unused_data
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data += self._z.decompress(rest)
        data = self._carry + data
        cut = data.rfind(b"\n") + 1
        self._ready += data[:cut]
        self._carry = data[cut:]

    def close(self) -> None:
        self._fh.close()
        super().close()


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        raw = io.BufferedReader(_GzipUpToTheCut(path))
        return io.TextIOWrapper(raw, encoding="utf-8", newline="")
    if path.name.endswith(".zip"):
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataFileError(path, None, f"not a readable zip file ({exc})") from None
        members = [n for n in archive.namelist() if not n.endswith("/")]
        if len(members) != 1:
            raise DataFileError(path, None, f"expected one file in the zip, found {len(members)}")
        return io.TextIOWrapper(archive.open(members[0]), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _number(text: Any, path: Path, where: str, what: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DataFileError(path, where, f"{what} is not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise DataFileError(path, where, f"{what} must be a positive number, got {text!r}")
    return value


def _timestamp(text: Any, path: Path, where: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise DataFileError(path, where, f"timestamp is not an integer: {text!r}") from None
    if value < 0:
        raise DataFileError(path, where, f"timestamp is negative: {text!r}")
    return value


class _CandleBuilder:
    """Checks and appends candle rows of one file."""

    def __init__(self, series: CandleSeries) -> None:
        self.series = series
        self.last_ts = -1

    def add(self, where: str, ts: int, o: Any, h: Any, low: Any, c: Any) -> None:
        path = self.series.path
        of, hf = _number(o, path, where, "open"), _number(h, path, where, "high")
        lf, cf = _number(low, path, where, "low"), _number(c, path, where, "close")
        if not (lf <= of <= hf and lf <= cf <= hf):
            raise DataFileError(
                path, where, f"inconsistent candle: open {o}, high {h}, low {low}, close {c}"
            )
        if ts <= self.last_ts:
            raise DataFileError(
                path, where, f"time {ts} is not after the previous row's {self.last_ts}"
            )
        self.last_ts = ts
        s = self.series
        s.ts.append(ts)
        s.open.append(of)
        s.high.append(hf)
        s.low.append(lf)
        s.close.append(cf)


def read_binance_klines(path: Path, symbol: str, period: int) -> CandleSeries:
    series = CandleSeries(path, symbol, period)
    builder = _CandleBuilder(series)
    with _open_text(path) as fh:
        for line_no, row in enumerate(csv.reader(fh), start=1):
            where = str(line_no)
            if not row:
                continue
            if len(row) != 12:
                raise DataFileError(path, where, f"expected 12 columns, found {len(row)}")
            if line_no == 1 and not row[0].strip().isdigit():
                continue  # a header line (newer Binance Vision files have one)
            ts = _timestamp(row[0], path, where)
            if ts > _MICROS_ABOVE:
                ts //= 1000
            builder.add(where, ts, row[1], row[2], row[3], row[4])
    return series


def read_freqtrade_json(path: Path, symbol: str, period: int) -> CandleSeries:
    rows = _load_json(path)
    series = CandleSeries(path, symbol, period)
    builder = _CandleBuilder(series)
    for i, row in enumerate(rows):
        where = f"row {i}"
        if not isinstance(row, list) or len(row) < 5:
            raise DataFileError(path, where, "expected [timestamp, open, high, low, close, volume]")
        builder.add(where, _timestamp(row[0], path, where), row[1], row[2], row[3], row[4])
    return series


def _load_json(path: Path) -> list[Any]:
    try:
        with _open_text(path) as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataFileError(path, str(exc.lineno), f"not JSON: {exc.msg}") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataFileError(path, None, f"cannot read: {exc}") from None
    if not isinstance(data, list):
        raise DataFileError(path, None, "expected a JSON list of rows")
    return data


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
    and whose times rise: the checks of the pyarrow path, each one loop in C."""
    lt, gt, le = operator.lt, operator.gt, operator.le
    if not len(dates):
        return True
    if min(low) <= 0:
        return False
    for bad in (map(lt, h, o), map(lt, h, c), map(gt, low, o), map(gt, low, c)):
        if any(bad):
            return False
    return rising or bool(arrow_ipc.evenly_spaced(dates)) or not any(map(le, dates[1:], dates))


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


class _TickBuilder:
    def __init__(self, series: TickSeries) -> None:
        self.series = series
        self.index: dict[str, int] = {}
        self.sorted = True

    def add(self, where: str, ts: int, symbol: Any, price: Any) -> None:
        s = self.series
        if (
            not isinstance(symbol, str)
            or symbol.count("/") != 1
            or symbol.startswith("/")
            or symbol.endswith("/")
        ):
            raise DataFileError(s.path, where, f"symbol must look like BTC/USDT, got {symbol!r}")
        idx = self.index.get(symbol)
        if idx is None:
            idx = self.index[symbol] = len(s.symbols)
            s.symbols.append(symbol)
        if s.ts and ts < s.ts[-1]:
            self.sorted = False
        s.ts.append(ts)
        s.symbol_index.append(idx)
        s.price.append(_number(price, s.path, where, "price"))

    def finish(self) -> TickSeries:
        s = self.series
        if not self.sorted:  # stable: ties keep their file order
            order = sorted(range(len(s.ts)), key=s.ts.__getitem__)
            s.ts = array("q", (s.ts[i] for i in order))
            s.symbol_index = array("I", (s.symbol_index[i] for i in order))
            s.price = array("d", (s.price[i] for i in order))
        return s


def read_tick_csv(path: Path) -> TickSeries:
    builder = _TickBuilder(TickSeries(path))
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        next(reader, None)  # the header, checked by the caller
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 3:
                raise DataFileError(path, str(line_no), f"expected 3 columns, found {len(row)}")
            builder.add(
                str(line_no), _timestamp(row[0], path, str(line_no)), row[1].strip(), row[2]
            )
    return builder.finish()


def read_freqtrade_trades(path: Path, symbol: str) -> TickSeries:
    builder = _TickBuilder(TickSeries(path))
    for i, row in enumerate(_load_json(path)):
        where = f"row {i}"
        if not isinstance(row, list) or len(row) < 5:
            raise DataFileError(
                path, where, "expected [timestamp, id, type, side, price, amount, cost]"
            )
        builder.add(where, _timestamp(row[0], path, where), symbol, row[4])
    return builder.finish()


def read_recording(path: Path) -> TickSeries:
    builder = _TickBuilder(TickSeries(path))
    try:
        with _open_text(path) as fh:
            for line_no, line in enumerate(fh, start=1):
                where = str(line_no)
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataFileError(path, where, f"not JSON: {exc.msg}") from None
                if line_no == 1:
                    if not (isinstance(item, dict) and item.get("format") == recording.FORMAT):
                        raise DataFileError(path, where, "not a tradebot recording (bad header)")
                    if item.get("version") != recording.VERSION:
                        raise DataFileError(
                            path, where, f"unsupported version {item.get('version')!r}"
                        )
                    continue
                if not (isinstance(item, list) and len(item) == 3):
                    raise DataFileError(path, where, "expected [ts_ms, symbol, price]")
                builder.add(where, _timestamp(item[0], path, where), item[1], item[2])
    except (OSError, EOFError) as exc:  # truncated gzip, for one
        raise DataFileError(path, None, f"cannot read: {exc}") from None
    return builder.finish()


def read_files(paths: Iterable[Path]) -> list[Series]:
    return [read_file(p) for p in paths]


def series_symbols(series: Iterable[Series]) -> list[str]:
    """Every symbol, in order of first appearance."""
    seen: dict[str, None] = {}
    for s in series:
        for sym in s.symbols:
            seen.setdefault(sym, None)
    return list(seen)


def series_span(series: Iterable[Series | CandleStream]) -> tuple[int, int] | None:
    """First and last tick time over all inputs (None when they hold nothing)."""
    spans = []
    for s in series:
        if isinstance(s, CandleStream):
            spans.append((s.first_ms, s.last_ms + s.period_ms - 1))
        elif len(s):
            end = s.ts[-1] + (s.period_ms - 1 if isinstance(s, CandleSeries) else 0)
            spans.append((s.ts[0], end))
    if not spans:
        return None
    return min(a for a, _ in spans), max(b for _, b in spans)


def iter_series(s: Series) -> Iterator[tuple[int, str, float]]:
    """A series as ticks: candles become four ticks each (DESIGN.md section 4)."""
    if isinstance(s, TickSeries):
        names = s.symbols
        for ts, idx, price in zip(s.ts, s.symbol_index, s.price, strict=True):
            yield ts, names[idx], price
        return
    sym, period = s.symbol, s.period_ms
    for t, o, h, low, c in zip(s.ts, s.open, s.high, s.low, s.close, strict=True):
        for ts, price in candle_to_ticks(t, period, o, h, low, c):
            yield ts, sym, price


def _tick_time(tick: tuple[int, str, float]) -> int:
    return tick[0]


def iter_merged(series: Sequence[Series]) -> Iterator[tuple[int, str, float]]:
    """Every series' ticks in time order; equal times keep the order the series were given."""
    if len(series) == 1:
        return iter_series(series[0])
    # heapq.merge breaks ties by input position.
    return heapq.merge(*(iter_series(s) for s in series), key=_tick_time)
