"""Replay input readers: every format, and a clear `file:line` error for each kind of damage."""

from __future__ import annotations

import gzip
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pytest

from tradebot_tui.core.ticks import Tick
from tradebot_tui.data.files import read_file
from tradebot_tui.data.recording import RecordingWriter
from tradebot_tui.data.series import (
    CandleSeries,
    DataFileError,
    TickSeries,
    iter_series,
    series_span,
)

T0 = 1_774_267_740_000  # 2026-03-23 12:09 UTC, a whole minute
MIN = 60_000
CANDLES = [  # (open, high, low, close)
    (100.0, 101.0, 99.0, 100.5),
    (100.5, 100.6, 98.0, 98.5),
    (98.5, 99.9, 98.4, 99.0),
]


def kline_row(ts: int, o: float, h: float, low: float, c: float) -> str:
    # open_time, open, high, low, close, volume, close_time, quote_volume, trades,
    # taker_buy_base, taker_buy_quote, ignore
    return f"{ts},{o},{h},{low},{c},12.5,{ts + 59_999},1250.0,42,6.1,610.0,0\n"


def write_klines(path: Path, *, micros: bool = False, rows: list[str] | None = None) -> Path:
    scale = 1000 if micros else 1
    text = "".join(
        rows
        if rows is not None
        else [kline_row((T0 + i * MIN) * scale, *c) for i, c in enumerate(CANDLES)]
    )
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    elif path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(path.name[: -len(".zip")] + ".csv", text)
    else:
        path.write_text(text)
    return path


def write_feather(path: Path, candles: list[tuple[float, float, float, float]] = CANDLES) -> Path:
    table = pa.table(
        {
            "date": pa.array(
                [datetime.fromtimestamp((T0 + i * MIN) / 1000, UTC) for i in range(len(candles))],
                pa.timestamp("ns", tz="UTC"),
            ),
            "open": [c[0] for c in candles],
            "high": [c[1] for c in candles],
            "low": [c[2] for c in candles],
            "close": [c[3] for c in candles],
            "volume": [1.0] * len(candles),
        }
    )
    feather.write_feather(table, path, compression="lz4")
    return path


def expect_candles(series: CandleSeries, symbol: str) -> None:
    assert series.symbol == symbol
    assert series.period_ms == MIN
    assert list(series.ts) == [T0, T0 + MIN, T0 + 2 * MIN]
    assert list(zip(series.open, series.high, series.low, series.close, strict=True)) == CANDLES


# -- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["BTCUSDT-1m-2026-03.csv", "BTCUSDT-1m-2026-03.csv.gz", "BTCUSDT-1m-2026-03.zip"]
)
@pytest.mark.parametrize("micros", [False, True], ids=["ms", "us"])
def test_binance_vision_klines(tmp_path: Path, name: str, micros: bool) -> None:
    series = read_file(write_klines(tmp_path / name, micros=micros))
    assert isinstance(series, CandleSeries)
    expect_candles(series, "BTC/USDT")


def test_binance_vision_header_line_is_skipped(tmp_path: Path) -> None:
    header = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
        "taker_buy_volume,taker_buy_quote_volume,ignore\n"
    )
    rows = [header] + [kline_row(T0 + i * MIN, *c) for i, c in enumerate(CANDLES)]
    series = read_file(write_klines(tmp_path / "ETHBTC-1m-2026-03.csv", rows=rows))
    assert isinstance(series, CandleSeries)
    assert series.symbol == "ETH/BTC"
    assert len(series) == 3


def test_freqtrade_feather(tmp_path: Path) -> None:
    series = read_file(write_feather(tmp_path / "SOL_USDT-1m.feather"))
    assert isinstance(series, CandleSeries)
    expect_candles(series, "SOL/USDT")


@pytest.mark.parametrize("name", ["ADA_BTC-5m.json", "ADA_BTC-5m.json.gz"])
def test_freqtrade_json(tmp_path: Path, name: str) -> None:
    rows = [[T0 + i * 5 * MIN, *c, 3.0] for i, c in enumerate(CANDLES)]
    data = json.dumps(rows).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    series = read_file(path)
    assert isinstance(series, CandleSeries)
    assert series.symbol == "ADA/BTC"
    assert series.period_ms == 5 * MIN
    assert series.close[-1] == CANDLES[-1][3]


def test_tick_csv_sorts_stably(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(
        "ts_ms,symbol,price\n2000,ETH/USDT,2000.5\n1000,BTC/USDT,70000\n2000,BTC/USDT,69999.5\n\n"
    )
    series = read_file(path)
    assert isinstance(series, TickSeries)
    assert list(iter_series(series)) == [
        (1000, "BTC/USDT", 70000.0),
        (2000, "ETH/USDT", 2000.5),  # a tie keeps file order
        (2000, "BTC/USDT", 69999.5),
    ]


def test_freqtrade_trades(tmp_path: Path) -> None:
    rows = [
        [1570752000123, "1", None, "buy", 0.00151, 10.0, 0.0151],
        [1570752000456, "2", None, "sell", 0.00150, 3.0, 0.0045],
    ]
    path = tmp_path / "XRP_ETH-trades.json.gz"
    path.write_bytes(gzip.compress(json.dumps(rows).encode()))
    assert list(iter_series(read_file(path))) == [
        (1570752000123, "XRP/ETH", 0.00151),
        (1570752000456, "XRP/ETH", 0.0015),
    ]


@pytest.mark.parametrize("name", ["ticks.jsonl", "ticks.jsonl.gz"])
def test_recordings_round_trip(tmp_path: Path, name: str) -> None:
    ticks = [
        Tick(1000, "BTC/USDT", 70000.12),
        Tick(1000, "ETH/USDT", 0.1 + 0.2),
        Tick(1500, "BTC/USDT", 69990.0),
    ]
    with RecordingWriter(tmp_path / name) as writer:
        writer.write(ticks)
    assert list(iter_series(read_file(tmp_path / name))) == ticks  # floats survive exactly


def test_candles_become_four_ticks_with_the_tie_rule(tmp_path: Path) -> None:
    series = read_file(write_feather(tmp_path / "BTC_USDT-1m.feather"))
    ticks = list(iter_series(series))
    assert ticks[:8] == [
        # h - o = 1 <= o - l = 1: high first
        (T0, "BTC/USDT", 100.0),
        (T0 + 15_000, "BTC/USDT", 101.0),
        (T0 + 30_000, "BTC/USDT", 99.0),
        (T0 + 59_999, "BTC/USDT", 100.5),
        # h - o = 0.1 <= o - l = 2.5: high first
        (T0 + MIN, "BTC/USDT", 100.5),
        (T0 + MIN + 15_000, "BTC/USDT", 100.6),
        (T0 + MIN + 30_000, "BTC/USDT", 98.0),
        (T0 + MIN + 59_999, "BTC/USDT", 98.5),
    ]
    # h - o = 1.4 > o - l = 0.1: low first
    assert ticks[9:11] == [
        (T0 + 2 * MIN + 15_000, "BTC/USDT", 98.4),
        (T0 + 2 * MIN + 30_000, "BTC/USDT", 99.9),
    ]
    assert series_span([series]) == (T0, T0 + 3 * MIN - 1)


# -- damage -----------------------------------------------------------------------------------


def error_of(path: Path) -> DataFileError:
    with pytest.raises(DataFileError) as info:
        read_file(path)
    return info.value


@pytest.mark.parametrize(
    ("line", "where", "message"),
    [
        (kline_row(T0, 100, 101, 99, 100).replace(",12.5", ""), "2", "expected 12 columns"),
        (kline_row(T0 + MIN, 100, 101, 99, 100).replace("101", "abc"), "2", "high is not a number"),
        (kline_row(T0 + MIN, 100, 99, 101, 100), "2", "inconsistent candle"),
        (kline_row(T0, 100, 101, 99, 100), "2", "is not after the previous row"),
        (kline_row(T0 + MIN, 100, 101, 99, 100).replace("100,", "nan,", 1), "2", "positive"),
        ("x" + kline_row(T0 + MIN, 100, 101, 99, 100), "2", "timestamp is not an integer"),
    ],
    ids=["columns", "number", "high-below-low", "time-order", "nan", "timestamp"],
)
def test_bad_kline_rows_name_file_and_line(
    tmp_path: Path, line: str, where: str, message: str
) -> None:
    path = write_klines(
        tmp_path / "BTCUSDT-1m-2026-03.csv", rows=[kline_row(T0, 100, 101, 99, 100), line]
    )
    err = error_of(path)
    assert err.where == where
    assert message in err.message
    assert str(err).startswith(f"{path}:{where}: ")


def test_bad_tick_csv_rows(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text("ts_ms,symbol,price\n1000,BTC/USDT,1\n2000,BTCUSDT,2\n")
    err = error_of(path)
    assert (err.where, "symbol must look like BTC/USDT" in err.message) == ("3", True)
    path.write_text("ts_ms,symbol,price\n1000,BTC/USDT,-1\n")
    assert error_of(path).where == "2"


def test_unknown_csv_and_unknown_formats(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("time,price\n1,2\n")
    assert "neither a tick CSV" in str(error_of(path))
    other = tmp_path / "prices.parquet"
    other.write_bytes(b"PAR1")
    assert "unknown format" in str(error_of(other))
    assert "no such file" in str(error_of(tmp_path / "missing.csv"))
    odd = write_klines(tmp_path / "BTCXYZ-1m-2026-03.csv")
    assert "cannot tell base from quote" in str(error_of(odd))


def test_bad_json_candles(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT-1m.json"
    path.write_text("[[1, 1, 1, 1, 1, 1],\n [2, 1, 1")
    err = error_of(path)
    assert err.where == "2" and "not JSON" in err.message
    path.write_text("[[60000, 1, 1, 1, 1, 1], [120000, 1, 1, 1]]")
    assert error_of(path).where == "row 1"


def test_bad_feather(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT-1m.feather"
    path.write_bytes(b"not arrow at all")
    assert "not a freqtrade feather file" in str(error_of(path))
    write_feather(path, [CANDLES[0], (100.0, 99.0, 101.0, 100.0)])
    err = error_of(path)
    assert err.where == "row 1" and "inconsistent candle" in err.message


def test_a_recording_cut_short_is_read_up_to_its_last_complete_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A run killed while recording leaves a gzip file without its end: replay reads it up
    to the last complete line, with a warning naming the file (each batch is flushed)."""
    path = tmp_path / "rec.jsonl.gz"
    writer = RecordingWriter(path)
    for batch in range(20):  # what the recorder does: a flushed batch a second
        writer.write([Tick(1000 + batch * 100 + i, "BTC/USDT", 1.0 + i) for i in range(100)])
    data = path.read_bytes()  # killed here: never closed
    for cut in (len(data), len(data) * 2 // 3, len(data) // 3):
        path.write_bytes(data[:cut])
        caplog.clear()
        series = read_file(path)
        ticks = list(zip(series.ts, series.price, strict=True))
        assert 0 < len(ticks) <= 2000
        assert (
            ticks
            == [(1000 + b * 100 + i, 1.0 + i) for b in range(20) for i in range(100)][: len(ticks)]
        )
        assert f"{path}: the file is cut short" in caplog.text


def test_a_damaged_zip_or_gzip_is_a_clear_error(tmp_path: Path) -> None:
    zipped = tmp_path / "BTCUSDT-1m-2025-04.zip"
    zipped.write_bytes(b"PK\x03\x04 this is not really a zip file")
    assert "not a readable zip file" in str(error_of(zipped))
    gz = tmp_path / "ticks.csv.gz"
    gz.write_bytes(b"\x1f\x8b this is not really gzip")
    assert "damaged file" in str(error_of(gz))


def test_bad_recordings(tmp_path: Path) -> None:
    plain = tmp_path / "rec.jsonl"
    plain.write_text(
        '{"format": "tradebot-ticks", "version": 1}\n[1, "BTC/USDT", 1.5]\n[2, "BTC/USDT"]\n'
    )
    assert error_of(plain).where == "3"
    plain.write_text('{"format": "tradebot-ticks", "version": 9}\n')
    assert "unsupported version" in str(error_of(plain))
    plain.write_text('{"format": "something-else"}\n')
    assert "not a tradebot recording" in str(error_of(plain))
