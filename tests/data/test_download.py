"""`tradebot-tui download`: Binance Vision's checked archives (and ccxt) into freqtrade's
files, extended and resumed, never half written, bad input refused in one line."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pytest

from tests.fake_vision import Vision, price_at, serve
from tradebot_tui.data import vision
from tradebot_tui.data.download import Job, Progress, download
from tradebot_tui.data.files import read_file
from tradebot_tui.data.history import (
    Candles,
    HistoryError,
    Piece,
    clip_to_now,
    parse_pairs,
    parse_timerange,
    read_history,
    write_history,
)
from tradebot_tui.data.series import CandleSeries
from tradebot_tui.data.vision import VisionSource, pieces

BIN = Path(sys.executable).parent / "tradebot-tui"
NOV_2024 = 1_730_419_200_000
DEC_2024 = 1_733_011_200_000
JAN_2025 = 1_735_689_600_000
FEB_2025 = 1_738_368_000_000
MINUTE = 60_000


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def archive(base: str, symbol: str, label: str) -> str:
    kind = "daily" if len(label) == 10 else "monthly"
    return f"/data/spot/{kind}/klines/{symbol}/1m/{symbol}-1m-{label}.zip"


def fetches(v: Vision) -> dict[str, int]:
    return {p: n for p, n in v.requests.items() if p.endswith(".zip")}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), "download", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def market() -> Vision:
    return Vision(
        now=datetime.now(UTC),
        listed={"BTCUSDT": utc(2017, 8, 17), "ETHUSDT": utc(2024, 12, 15)},
    )


# -- what is asked -----------------------------------------------------------------------------


def test_a_timerange_is_freqtrade_s_from_the_first_day_up_to_the_second() -> None:
    assert parse_timerange("20241101-20250201") == (NOV_2024, FEB_2025)
    assert parse_timerange("20241101-") == (NOV_2024, None)
    for bad in ("20241101", "2024-11-01", "20241301-", "20250201-20250201", "-20250201"):
        with pytest.raises(HistoryError, match="--timerange"):
            parse_timerange(bad)
    assert parse_pairs(" btc/usdt,ETH/USDT,BTC/USDT ") == ["BTC/USDT", "ETH/USDT"]
    with pytest.raises(HistoryError, match="'BTCUSDT' is not a pair"):
        parse_pairs("BTCUSDT")


def test_the_range_ends_at_the_last_closed_candle_and_never_starts_in_the_future() -> None:
    now = JAN_2025 + 90 * MINUTE + 30_000  # 01:30:30
    assert clip_to_now(NOV_2024, None, MINUTE, now) == JAN_2025 + 90 * MINUTE
    assert clip_to_now(NOV_2024, FEB_2025, MINUTE, now) == JAN_2025 + 90 * MINUTE
    assert clip_to_now(NOV_2024, DEC_2024, MINUTE, now) == DEC_2024
    with pytest.raises(HistoryError, match="in the future"):
        clip_to_now(now, None, MINUTE, now)


def test_months_that_are_over_come_as_months_and_the_month_under_way_as_days() -> None:
    now = JAN_2025 + 2 * 86_400_000 + 5 * 3_600_000  # 2025-01-03 05:00
    got = pieces(NOV_2024 + 86_400_000 * 10, now, now)
    assert [p.label for p in got] == ["2024-11", "2024-12", "2025-01-01", "2025-01-02"]
    assert got[-1].end_ms == JAN_2025 + 2 * 86_400_000  # today's archive comes tomorrow
    assert [p.label for p in pieces(DEC_2024, JAN_2025, now)] == ["2024-12"]  # end excluded


# -- the command -------------------------------------------------------------------------------


def test_download_writes_freqtrade_files_that_replay_reads_and_a_second_run_fetches_nothing(
    market: Vision, tmp_path: Path
) -> None:
    with serve(market) as url:
        args = ["--pairs", "BTC/USDT,ETH/USDT", "--timerange", "20241101-20250201"]
        first = cli(*args, "--base-url", url, "--datadir", "hist", cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        before = dict(market.requests)
        again = cli(*args, "--base-url", url, "--datadir", "hist", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "BTC/USDT: 132,480 candles 2024-11-01 00:00 to 2025-01-31 23:59 UTC" in first.stdout
    assert "(3 fetched, 0 already there; +132,480 candles)" in first.stdout
    assert "(0 fetched, 3 already there; +0 candles)" in again.stdout
    btc = archive(url, "BTCUSDT", "2024-11")
    assert market.requests[btc] == before[btc] == 1  # never fetched again
    # ETH was listed on 2024-12-15: November has no archive, December starts mid-month.
    assert "ETH/USDT: 69,120 candles 2024-12-15 00:00 to 2025-01-31 23:59 UTC" in first.stdout
    path = tmp_path / "hist" / "BTC_USDT-1m.feather"
    table = feather.read_table(path)
    assert table.schema.names == ["date", "open", "high", "low", "close", "volume"]
    assert table.schema.field("date").type == pa.timestamp("ns", tz="UTC")  # freqtrade's
    series = read_file(path)  # what replay reads
    assert isinstance(series, CandleSeries)
    assert len(series.ts) == 132_480
    assert series.ts[0] == NOV_2024 and series.ts[-1] == FEB_2025 - MINUTE
    # January 2025 came in microseconds: read as milliseconds, at the right prices.
    jan = series.ts.index(JAN_2025)
    assert series.close[jan] == price_at("BTCUSDT", JAN_2025)
    assert not list(path.parent.glob(".*part"))


def test_a_file_is_extended_at_both_ends_and_only_the_missing_archives_are_fetched(
    market: Vision, tmp_path: Path
) -> None:
    with serve(market) as url:
        common = ["--pairs", "BTC/USDT", "--base-url", url, "--datadir", "hist"]
        assert cli(*common, "--timerange", "20241201-20250101", cwd=tmp_path).returncode == 0
        wider = cli(*common, "--timerange", "20241101-20250201", cwd=tmp_path)
    assert wider.returncode == 0, wider.stdout + wider.stderr
    assert "(2 fetched, 1 already there; +87,840 candles)" in wider.stdout
    assert fetches(market) == {
        archive(url, "BTCUSDT", label): 1 for label in ("2024-11", "2024-12", "2025-01")
    }
    ts = read_file(tmp_path / "hist" / "BTC_USDT-1m.feather").ts
    assert len(ts) == 132_480 and all(b - a == MINUTE for a, b in itertools.pairwise(ts))


def test_a_checksum_that_does_not_match_writes_nothing_of_that_pair_and_exits_2(
    market: Vision, tmp_path: Path
) -> None:
    with serve(market) as url:
        market.corrupt.add(archive(url, "BTCUSDT", "2024-12"))
        done = cli(
            "--pairs", "BTC/USDT", "--timerange", "20241101-20250201", "--base-url", url,
            "--datadir", "hist", cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stdout.splitlines() if "error" in line]
    assert len(errors) == 1
    assert "BTCUSDT-1m-2024-12.zip: its SHA-256 is" in errors[0]
    assert "nothing of BTC/USDT was written" in errors[0]
    assert not (tmp_path / "hist").exists() or not list((tmp_path / "hist").iterdir())


def test_a_network_failure_keeps_what_was_complete_and_the_next_run_resumes(
    market: Vision, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vision, "RETRY_DELAYS_S", (0.0, 0.0))
    now = int(datetime.now(UTC).timestamp() * 1000)
    plan = pieces(NOV_2024, FEB_2025, now)
    path = tmp_path / "BTC_USDT-1m.feather"
    with serve(market) as url:
        dead = archive(url, "BTCUSDT", "2024-12")
        market.dead.add(dead)
        source = VisionSource("BTC/USDT", "1m", url, now_ms=now)
        job = Job("BTC/USDT", path, source, plan, NOV_2024, FEB_2025, MINUTE)
        [cut] = download([job], workers=3)
        assert market.requests[dead] == 3  # three tries, then given up
        assert cut.failure is not None and "2024-12" in cut.failure
        assert cut.span == (NOV_2024, DEC_2024 - MINUTE)  # November kept, January not
        market.dead.clear()
        job = Job("BTC/USDT", path, source, plan, NOV_2024, FEB_2025, MINUTE)
        [resumed] = download([job], workers=3)
    assert resumed.failure is None and resumed.already == 1 and resumed.fetched == 2
    assert market.requests[archive(url, "BTCUSDT", "2024-11")] == 1
    assert resumed.span == (NOV_2024, FEB_2025 - MINUTE) and resumed.candles == 132_480


def test_a_server_error_is_asked_again_and_a_month_not_yet_out_comes_a_day_at_a_time(
    market: Vision, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vision, "RETRY_DELAYS_S", (0.0, 0.0))
    market.now = utc(2025, 1, 2, 12)  # December's archive is not out: 3 days' lag
    now = int(market.now.timestamp() * 1000)
    with serve(market) as url:
        market.flaky[archive(url, "BTCUSDT", "2024-11")] = 2
        source = VisionSource("BTC/USDT", "1m", url, now_ms=now)
        november = source(Piece("2024-11", NOV_2024, DEC_2024))
        december = source(Piece("2024-12", DEC_2024, JAN_2025))
        assert market.requests[archive(url, "BTCUSDT", "2024-11")] == 3
        assert archive(url, "BTCUSDT", "2024-12-31") in market.requests
        old = VisionSource("ETH/USDT", "1m", url, now_ms=now)
        assert old(Piece("2024-11", NOV_2024, DEC_2024)) is None  # before its listing
        assert not any("ETHUSDT-1m-2024-11-" in p for p in market.requests)
    assert november is not None and len(november) == 30 * 1440
    assert december is not None and len(december) == 31 * 1440
    assert december.ts[0] == DEC_2024 and december.ts[-1] == JAN_2025 - MINUTE


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--pairs", "BTCUSDT"], "'BTCUSDT' is not a pair like BTC/USDT"),
        (["--pairs", "BTC/USDT", "--timeframe", "7m"], "--timeframe '7m'"),
        (["--pairs", "BTC/USDT", "--timerange", "20991231-"], "in the future"),
        (["--pairs", "BTC/USDT", "--timerange", "2024"], "--timerange '2024'"),
        (["--pairs", "BTC/USDT", "--jobs", "0"], "--jobs 0"),
        (["--pairs", "NOPE/USDT", "--timerange", "20241101-20241201"], "has no candles of it"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(
    args: list[str], says: str, market: Vision, tmp_path: Path
) -> None:
    with serve(market) as url:
        done = cli(*args, "--base-url", url, "--datadir", "hist", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [x for x in (done.stdout + done.stderr).splitlines() if "error" in x]
    assert len(errors) == 1 and says in errors[0], done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_it_cannot_read_is_left_alone_and_named(tmp_path: Path) -> None:
    path = tmp_path / "BTC_USDT-1m.feather"
    path.write_bytes(b"not arrow")
    with pytest.raises(HistoryError, match="move it aside"):
        read_history(path)
    assert path.read_bytes() == b"not arrow"


def test_a_write_that_fails_leaves_the_old_file_and_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "BTC_USDT-1m.feather"
    old = Candles()
    old.append(NOV_2024, 1.0, 2.0, 0.5, 1.5, 3.0)
    write_history(path, old)
    kept = path.read_bytes()

    def cut(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feather, "write_feather", cut)
    bigger = Candles()
    bigger.extend(old)
    bigger.append(NOV_2024 + MINUTE, 1.5, 2.0, 1.0, 1.8, 2.0)
    with pytest.raises(OSError, match="No space"):
        write_history(path, bigger)
    assert path.read_bytes() == kept
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_the_progress_line_shows_the_count_and_the_time_left_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = Progress(4, screen)
    for label in ("BTC/USDT 2024-11", "BTC/USDT 2024-12", "BTC/USDT 2025-01", "ETH/USDT 2025-01"):
        bar.step(label)
    bar.close()
    shown = screen.getvalue()
    assert "4/4 ETH/USDT 2025-01" in shown and "ETA 0:00" in shown
    assert shown.endswith("\r")
    piped = io.StringIO()
    Progress(4, piped).step("x")
    assert piped.getvalue() == ""  # not a terminal: no bar


def test_any_ccxt_exchange_pages_through_fetch_ohlcv_and_refuses_a_pair_it_lacks(
    tmp_path: Path,
) -> None:
    from tests.fake_exchange import FakeBinance

    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = (midnight - timedelta(days=1)).strftime("%Y%m%d")  # a whole day, whenever it runs
    with FakeBinance() as exchange:
        common = ["--exchange", "binance", "--source", "ccxt", "--rest-url", exchange.rest_url]
        span = f"{day}-{midnight:%Y%m%d}"
        done = cli(
            *common, "--pairs", "BTC/USDT", "--timerange", span, "--datadir", "h", cwd=tmp_path
        )
        unknown = cli(*common, "--pairs", "NOPE/USDT", "--datadir", "h", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(binance via ccxt)" in done.stdout
    ts = read_file(tmp_path / "h" / "BTC_USDT-1m.feather").ts
    assert len(ts) == 1440 and ts[0] == int(midnight.timestamp() * 1000) - 86_400_000
    assert all(b - a == MINUTE for a, b in itertools.pairwise(ts))
    assert unknown.returncode == 2 and "binance has no NOPE/USDT" in unknown.stdout + unknown.stderr
