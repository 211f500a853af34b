"""The lean feather reader against pyarrow, on files pyarrow writes: every shape it takes
gives pyarrow's columns exactly; every shape it does not take falls back to pyarrow, so a
bad file still gets pyarrow's diagnosis; and a streamed replay gives the whole replay's
trades, trade for trade."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pytest

from tests.helpers import OLDEST_HIGH_ENTRY_MS, oldest_high_candles
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.anchors import AnchorMode
from tradebot_tui.data import arrow_ipc
from tradebot_tui.data import feather as datafiles
from tradebot_tui.data.feather import CANDLE_COLUMNS, open_candle_stream, read_feather
from tradebot_tui.data.files import read_file
from tradebot_tui.data.series import DataFileError
from tradebot_tui.data.trades_csv import trades_csv
from tradebot_tui.replay import feed as replay_feed
from tradebot_tui.replay.runner import run_replay

MIN = 60_000
T0 = 1_767_225_600_000  # 2026-01-01


def candles(n: int, seed: int, *, gaps: bool = False, offset_ms: int = 0) -> dict[str, list]:
    """`n` random-walk 1m candles (sharp drops included, so that the strategy trades)."""
    rng = random.Random(seed)
    price = 100.0
    out: dict[str, list] = {k: [] for k in ("date", "open", "high", "low", "close", "volume")}
    t = T0 + offset_ms
    for _ in range(n):
        t += MIN * (rng.choice((2, 3, 7)) if gaps and rng.random() < 0.02 else 1)
        o = price
        c = max(0.01, o * (1 + rng.gauss(0, 0.004) - (0.03 if rng.random() < 0.01 else 0)))
        h, low = (
            max(o, c) * (1 + abs(rng.gauss(0, 0.002))),
            min(o, c) * (1 - abs(rng.gauss(0, 0.002))),
        )
        for k, v in zip(
            ("open", "high", "low", "close", "volume"), (o, h, low, c, 1.0), strict=True
        ):
            out[k].append(v)
        out["date"].append(datetime.fromtimestamp(t / 1000, UTC))
        price = c
    return out


def write(path: Path, cols: dict[str, list], *, unit: str = "ns", **kw: object) -> Path:
    table = pa.table({**cols, "date": pa.array(cols["date"], pa.timestamp(unit, tz="UTC"))})
    feather.write_feather(table, path, **kw)  # type: ignore[arg-type]
    return path


def same_as_pyarrow(path: Path) -> None:
    ours = read_feather(path, "X/USDT", MIN)
    theirs = datafiles._read_feather_arrow(path, "X/USDT", MIN)
    for name in ("ts", "open", "high", "low", "close"):
        assert getattr(ours, name) == getattr(theirs, name), name


@pytest.mark.parametrize(
    ("unit", "kw"),
    [
        ("ns", {"compression": "lz4"}),
        ("ns", {"compression": "uncompressed"}),
        ("ms", {"compression": "lz4"}),
        ("s", {"compression": "lz4"}),
        ("us", {"compression": "lz4", "chunksize": 333}),  # many record batches
    ],
)
def test_the_shapes_it_reads_give_pyarrows_columns(tmp_path: Path, unit: str, kw: dict) -> None:
    path = write(tmp_path / "A_USDT-1m.feather", candles(2000, 1, gaps=True), unit=unit, **kw)
    arrow_ipc.ArrowFile(path, CANDLE_COLUMNS).columns()  # read by the lean reader, no fallback
    same_as_pyarrow(path)


def test_other_shapes_fall_back_to_pyarrow(tmp_path: Path) -> None:
    zstd = write(tmp_path / "Z_USDT-1m.feather", candles(500, 2), compression="zstd")
    with pytest.raises(arrow_ipc.Unsupported, match="compression other than LZ4"):
        arrow_ipc.ArrowFile(zstd, CANDLE_COLUMNS).columns()
    same_as_pyarrow(zstd)
    assert open_candle_stream(zstd) is None  # replayed whole, through pyarrow
    cols = candles(50, 3)
    cols["close"][7] = None  # a null: pyarrow's path names the row
    nulls = write(tmp_path / "N_USDT-1m.feather", cols)
    with pytest.raises(arrow_ipc.Unsupported, match="has nulls"):
        arrow_ipc.ArrowFile(nulls, CANDLE_COLUMNS).columns()
    with pytest.raises(DataFileError, match="row 7") as info:
        read_file(nulls)
    assert "close is empty" in str(info.value)


def test_bad_candles_get_pyarrows_diagnosis_whole_or_streamed(tmp_path: Path) -> None:
    cols = candles(5000, 4)
    cols["high"][4321] = cols["low"][4321] / 2  # a high under the low, late in the file
    path = write(tmp_path / "B_USDT-1m.feather", cols)
    with pytest.raises(DataFileError, match="row 4321") as whole:
        read_file(path)
    stream = open_candle_stream(path)
    assert stream is not None  # the times are fine: the values are checked as read
    with pytest.raises(DataFileError, match="row 4321") as streamed:
        for _ in stream.chunks(rows=1000):
            pass
    assert str(streamed.value) == str(whole.value)
    assert "inconsistent candle" in str(whole.value)


def test_a_truncated_or_garbled_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    good = write(tmp_path / "G_USDT-1m.feather", candles(3000, 5))
    data = good.read_bytes()
    for name, content in (
        ("T_USDT-1m.feather", data[: len(data) // 2]),
        ("M_USDT-1m.feather", data[:8] + bytes(reversed(data[8:-10])) + data[-10:]),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        assert open_candle_stream(path) is None
        with pytest.raises(DataFileError, match="not a freqtrade feather file"):
            read_file(path)


@pytest.mark.parametrize(
    ("offset_ms", "anchor"),
    [(0, AnchorMode.HYBRID), (30_000, AnchorMode.HYBRID), (0, AnchorMode.LAST_EXIT)],
)
def test_a_streamed_replay_is_the_whole_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offset_ms: int, anchor: AnchorMode
) -> None:
    """Three files of different lengths, with gaps; small chunks cut them everywhere (and
    the quiet blocks the replay skips, whose windows are refilled across chunks). With
    an offset one file is not aligned with the others: replayed whole (the heap merge)."""
    monkeypatch.setattr(datafiles, "CHUNK_ROWS", 97)
    paths = [
        write(tmp_path / "AAA_USDT-1m.feather", candles(3000, 11, gaps=True)),
        write(tmp_path / "BBB_USDT-1m.feather", candles(2500, 12, offset_ms=offset_ms)),
        write(tmp_path / "CCC_USDT-1m.feather", candles(3100, 13, gaps=True), chunksize=700),
    ]
    settings = Settings()
    params = dataclasses.replace(settings.strategy_params(), anchor=anchor)
    streams = [open_candle_stream(p) for p in paths]
    assert all(s is not None for s in streams)
    assert all(s.aligned for s in streams if s is not None) == (offset_ms == 0)
    whole = [read_file(p) for p in paths]
    kw = {"quote": "USDT", "initial": settings.budget.initial}
    used = []
    monkeypatch.setattr(
        replay_feed.Feed, "streams",
        lambda self, s, _f=replay_feed.Feed.streams: used.append(1) or _f(self, s),
    )  # fmt: skip
    for lo, hi in ((None, None), (T0 + 600 * MIN, T0 + 2000 * MIN)):
        a = run_replay(streams, params, from_ms=lo, to_ms=hi, **kw)  # type: ignore[arg-type]
        b = run_replay(whole, params, from_ms=lo, to_ms=hi, **kw)  # type: ignore[arg-type]
        c = run_replay(whole, params, from_ms=lo, to_ms=hi, fast=False, **kw)  # type: ignore[arg-type]
        assert len(a.trades) >= 5, "the data must make the strategy trade"
        assert trades_csv(a.trades) == trades_csv(b.trades) == trades_csv(c.trades)
        assert (a.ticks, a.warm_ticks, a.first_ts_ms, a.last_ts_ms) == (
            b.ticks, b.warm_ticks, b.first_ts_ms, b.last_ts_ms,
        )  # fmt: skip
    assert len(used) == (2 if offset_ms == 0 else 0)  # streamed only when aligned


def test_a_window_skipped_to_the_end_of_a_chunk_is_taken_up_in_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quiet fall of `oldest_high_candles` skipped in blocks to the end of a chunk,
    and the low that needs the window's oldest high first in the next one."""
    monkeypatch.setattr(datafiles, "CHUNK_ROWS", 320)
    s = oldest_high_candles(T0)
    cols: dict[str, list] = {
        "date": [datetime.fromtimestamp(t / 1000, UTC) for t in s.ts],
        "open": list(s.open),
        "high": list(s.high),
        "low": list(s.low),
        "close": list(s.close),
        "volume": [1.0] * len(s),
    }
    stream = open_candle_stream(write(tmp_path / "F_USDT-1m.feather", cols))
    assert stream is not None and [len(c) for c in stream.chunks()] == [320, 80]
    params = dataclasses.replace(Settings().strategy_params(), window_s=3_600, trigger_pct=2.0)
    kw = {"quote": "USDT", "initial": Decimal(1000)}
    streamed = run_replay([stream], params, **kw)  # type: ignore[arg-type]
    heap = run_replay([s], params, fast=False, **kw)  # type: ignore[arg-type]
    assert [(p.symbol, p.entry_ts_ms) for p in heap.open_positions] == [
        ("F/USDT", T0 + OLDEST_HIGH_ENTRY_MS)
    ]
    assert trades_csv(streamed.trades) == trades_csv(heap.trades)
    assert streamed.open_positions == heap.open_positions


def test_a_stream_reads_the_file_a_chunk_at_a_time(tmp_path: Path) -> None:
    path = write(tmp_path / "L_USDT-1m.feather", candles(50_000, 6), compression="lz4")
    assert ipc.open_file(path).num_record_batches == 1  # one LZ4 frame per column
    stream = open_candle_stream(path)
    assert stream is not None and stream.rows == 50_000
    parts = list(stream.chunks(rows=20_000))
    assert [len(c) for c in parts] == [20_000, 20_000, 10_000]
    whole = read_file(path)
    assert [t for c in parts for t in c.ts] == list(whole.ts)
    assert [x for c in parts for x in c.low] == list(whole.low)  # type: ignore[union-attr]
