"""Replay input in text: tick CSV, Binance Vision kline CSV (.csv, .csv.gz, .zip),
freqtrade JSON candles and trades, and the app's own recordings."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
import zlib
from array import array
from pathlib import Path
from typing import IO, Any

from tradebot_tui.data import recording
from tradebot_tui.data.series import CandleSeries, DataFileError, TickSeries, log

# Binance Vision switched its kline times to microseconds on 2025-01-01.
_MICROS_ABOVE = 10**14


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
