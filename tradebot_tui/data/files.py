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

import re
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from tradebot_tui.data import recording
from tradebot_tui.data.feather import read_feather
from tradebot_tui.data.series import (
    _FREQTRADE_NAME,
    DataFileError,
    Series,
    period_ms,
    split_pair,
)
from tradebot_tui.data.text_files import (
    _open_text,
    read_binance_klines,
    read_freqtrade_json,
    read_freqtrade_trades,
    read_recording,
    read_tick_csv,
)

TICK_CSV_HEADER = "ts_ms,symbol,price"
_FREQTRADE_TRADES = re.compile(
    r"^(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)-trades\.(?P<ext>json|json\.gz)$"
)
_BINANCE_NAME = re.compile(r"^(?P<pair>[A-Z0-9]+)-(?P<tf>\d+[smhdw])-.*\.(csv|csv\.gz|zip)$")


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


def read_files(paths: Iterable[Path]) -> list[Series]:
    return [read_file(p) for p in paths]
