"""`tradebot-tui replay`: the report, the trades file, and clear errors on bad input."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradebot_tui.cli import main

HEADER = "symbol,entry_ts_ms,entry_price,exit_ts_ms,exit_price,qty,exit_reason,pnl_quote"
WINDOW_CONFIG = "[strategy]\nwindow_s = 300\n"


def saw_tooth(symbol: str, minutes: int = 240) -> list[str]:
    """A price that falls 3 % and recovers 4 % every ten minutes: a trade every cycle."""
    rows = []
    for m in range(minutes):
        step = m % 10
        price = 100.0 if step < 5 else (97.0 if step < 8 else 101.0)
        rows.append(f"{m * 60_000},{symbol},{price}\n")
    return rows


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "ticks.csv"
    path.write_text("ts_ms,symbol,price\n" + "".join(saw_tooth("BTC/USDT")))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(WINDOW_CONFIG + "[risk]\ncooldown_s = 0\n")
    return path


def test_report_and_trades_file(
    data: Path, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trades.csv"
    args = ["replay", str(data), "--config", str(config), "--trades-out", str(out)]
    assert main(args) == 0
    report = capsys.readouterr().out
    for label in ("ticks", "trades", "win rate", "pnl", "max drawdown", "speed"):
        assert any(line.startswith(label) for line in report.splitlines()), label
    assert "ticks         240" in report
    assert "ticks/s" in report
    lines = out.read_text().splitlines()
    assert lines[0] == HEADER
    assert len(lines) > 10
    first = lines[1].split(",")
    assert first[0] == "BTC/USDT" and first[6] == "take_profit"
    assert f"trades        {len(lines) - 1} " in report
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert main(args) == 0
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest


def test_global_config_option_works_too(data: Path, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    assert main(["--config", str(config), "replay", str(data), "--trades-out", str(out)]) == 0
    assert len(out.read_text().splitlines()) > 10


def test_byte_identical_across_processes(data: Path, config: Path, tmp_path: Path) -> None:
    """Separate interpreters, different hash seeds: the same bytes."""
    digests = set()
    for seed in ("1", "2"):
        out = tmp_path / f"trades-{seed}.csv"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tradebot_tui",
                "replay",
                str(data),
                "--config",
                str(config),
                "--trades-out",
                str(out),
            ],
            check=True,
            env=env,
            capture_output=True,
            timeout=60,
        )
        digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_from_to_dates(data: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The data starts at 1970-01-01 00:00 UTC; trade 01:00 to 02:00.
    args = [
        "replay",
        str(data),
        "--config",
        str(config),
        "--from",
        "1970-01-01T01:00",
        "--to",
        "7200000",
    ]
    assert main(args) == 0
    report = capsys.readouterr().out
    assert "ticks         61 (plus 5 warm-up)" in report
    assert "1970-01-01 01:00:00 to 1970-01-01 02:00:00 UTC" in report


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "yesterday"], "--from 'yesterday': expected a UTC date"),
        (["--from", "1970-01-02", "--to", "1970-01-01T05:00"], "is before --from"),
        (["--from", "1971-01-01"], "no ticks to trade between 1971-01-01 and the end"),
    ],
)
def test_bad_dates(
    data: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(data), *extra]) == 2
    assert message in capsys.readouterr().err


def test_malformed_file_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("ts_ms,symbol,price\n1,BTC/USDT,1\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("ts_ms,symbol,price\n1,BTC/USDT,1\n2,BTC/USDT,oops\n")
    out = tmp_path / "trades.csv"
    assert main(["replay", str(good), str(bad), "--trades-out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: price is not a number: 'oops'" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_quote_mismatch_and_a_btc_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "ticks.csv"
    data.write_text("ts_ms,symbol,price\n" + "".join(saw_tooth("ETH/BTC")))
    assert main(["replay", str(data)]) == 2
    assert "ETH/BTC is quoted in BTC, but the budget is in USDT" in capsys.readouterr().err
    config = tmp_path / "btc.toml"
    config.write_text(WINDOW_CONFIG + '[budget]\nquote = "BTC"\ninitial = "1"\nstake = "0.1"\n')
    assert main(["replay", str(data), "--config", str(config)]) == 0
    assert "BTC (fees" in capsys.readouterr().out


def test_bad_config_and_missing_file(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[strategy]\ntrigger_pct = -1\n")
    assert main(["replay", str(data), "--config", str(config)]) == 2
    assert "strategy.trigger_pct" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from", "2030-01-01"], "no ticks to replay; the data covers 1970-01-01 00:00:00"),
        (["--speed", "0"], "--speed 0: must be above 0"),
        (["--trades-out", "t.csv"], "--trades-out, --export and --plot are for the headless"),
        (["--plot", "p.html"], "--trades-out, --export and --plot are for the headless"),
    ],
)
def test_replay_in_the_app_refuses_bad_options_before_starting(
    data: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["replay", "--tui", str(data), *extra]) == 2
    assert message in capsys.readouterr().err


def test_pairs_read_the_downloaded_files_and_timerange_is_the_period(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--pairs` finds `download`'s file in the data dir; `--timerange 19700101-19700102`
    is the same period as `--from 1970-01-01 --to 1970-01-01` (the end day excluded)."""
    from tradebot_tui.config.locations import locate
    from tradebot_tui.data.history import Candles, write_history

    candles = Candles()
    for m in range(2 * 1440):  # two days of the saw tooth as 1m candles
        step = m % 10
        price = 100.0 if step < 5 else (97.0 if step < 8 else 101.0)
        candles.append(m * 60_000, price, price, price, price, 1.0)
    path = locate().history_dir / "binance" / "BTC_USDT-1m.feather"
    write_history(path, candles)
    by_pair, by_file = tmp_path / "pair.csv", tmp_path / "file.csv"
    common = ["--config", str(config)]
    pair_args = ["--pairs", "BTC/USDT", "--timerange", "19700101-19700102"]
    assert main(["replay", *pair_args, *common, "--trades-out", str(by_pair)]) == 0
    report = capsys.readouterr().out
    file_args = [str(path), "--from", "1970-01-01", "--to", "1970-01-01"]
    assert main(["replay", *file_args, *common, "--trades-out", str(by_file)]) == 0
    assert by_pair.read_bytes() == by_file.read_bytes()
    assert len(by_pair.read_text().splitlines()) > 50
    assert "period        1970-01-01 00:00:00 to 1970-01-01 23:59:59 UTC" in report
    assert main(["replay", "--pairs", "ETH/USDT", *common]) == 2
    err = capsys.readouterr().err
    assert "no 1m candles of ETH/USDT in" in err
    assert "tradebot-tui download --pairs ETH/USDT --timeframe 1m fetches them" in err
    assert main(["replay", *pair_args, "--from", "1970-01-01"]) == 2
    assert "one way of giving the period" in capsys.readouterr().err
    assert main(["replay"]) == 2
    assert "give the data files, or --pairs" in capsys.readouterr().err


def test_exits_on_the_exchange_fill_at_the_legs_and_a_gap_is_an_emergency_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same ticks with `exits.on_exchange` off and on: the take-profit leg sells at its
    own price, not at the tick that jumped over it, and a fall through the stop leg's limit
    is sold at market as an emergency exit (docs/architecture.md, "Protection on the
    exchange")."""
    prices = [100.0] * 5 + [97.0, 101.0] + [100.0] * 8 + [97.0, 90.0, 100.0]
    data = tmp_path / "ticks.csv"
    data.write_text(
        "ts_ms,symbol,price\n"
        + "".join(f"{m * 60_000},BTC/USDT,{p}\n" for m, p in enumerate(prices))
    )
    rows = {}
    for on in ("false", "true"):
        config = tmp_path / f"{on}.toml"
        config.write_text(
            WINDOW_CONFIG
            + f'anchor = "rolling_high"\n[risk]\ncooldown_s = 0\n[exits]\non_exchange = {on}\n'
        )
        out = tmp_path / f"{on}.csv"
        assert main(["replay", str(data), "--config", str(config), "--trades-out", str(out)]) == 0
        capsys.readouterr()
        rows[on] = [line.split(",") for line in out.read_text().splitlines()[1:]]
    # In the bot: the take-profit sells at the tick (101), the fall is a stop-loss.
    assert [(r[4], r[6]) for r in rows["false"]] == [("101", "take_profit"), ("90", "stop_loss")]
    # On the exchange: 97 * 1.015 (no tick in a CSV replay: the threshold itself), and 90
    # is below the stop leg's limit (97 * 0.97 = 94.09, limit 1 % lower): sold at market.
    assert [(r[4], r[6]) for r in rows["true"]] == [
        (repr(97 * (1 + 1.5 / 100)), "take_profit"),
        ("90", "emergency_exit"),
    ]
