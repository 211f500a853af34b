"""`tradebot-tui tune`: the search, its study in SQLite, resume, apply, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.tune.test_trials import walk_series
from tradebot_tui.cli import main
from tradebot_tui.config.store import load_settings
from tradebot_tui.data.trades_csv import trades_csv
from tradebot_tui.tune.space import trial_settings
from tradebot_tui.tune.study import open_storage
from tradebot_tui.tune.trials import TrialData
from tradebot_tui.tune.workers import Setup

DAYS = 6


def write_klines(folder: Path, coins: int = 3, seed: int = 4, days: int = DAYS) -> list[Path]:
    """Binance Vision kline CSVs of random walks with drops: a few days of 1m candles."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    start = 1_735_689_600_000  # 2025-01-01
    for s in walk_series(coins, days * 1440, seed):
        base = s.symbol.split("/")[0]
        path = folder / f"{base}USDT-1m-2025-01.csv"
        rows = [
            f"{start + t},{o!r},{h!r},{lo!r},{c!r},1,{start + t + 59_999},1,1,1,1,0"
            for t, o, h, lo, c in zip(s.ts, s.open, s.high, s.low, s.close, strict=True)
        ]
        path.write_text("\n".join(rows) + "\n")
        paths.append(path)
    return paths


@pytest.fixture
def data(tmp_path: Path) -> list[str]:
    return [str(p) for p in write_klines(tmp_path / "data")]


def data_dir(home: Path) -> Path:
    return home / "data" / "tradebot-tui"


def study_trials(home: Path, name: str = "default") -> list[tuple[int, str]]:
    """(number, state) of every trial of the study, read from its SQLite file."""
    import optuna

    db = data_dir(home) / "tune.db"
    storage = open_storage(data_dir(home))
    if name not in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        return []
    assert db.exists()
    study = optuna.load_study(study_name=name, storage=storage)
    return [(t.number, t.state.name) for t in study.get_trials(deepcopy=False)]


def tune(*args: str) -> int:
    return main(["tune", *args])


def test_tune_searches_prints_both_samples_and_resumes(
    data: list[str], isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tune(*data, "--trials", "12", "--workers", "1", "--min-trades", "1") == 0
    out, err = capsys.readouterr()
    assert "in-sample: trades" in out and "out-of-sample: trades" in out
    assert "12/12 trials" in err and "ETA" in err
    assert "best: trial #" in out
    assert [s for _, s in study_trials(isolated_home)] == ["COMPLETE"] * 12 or all(
        s in ("COMPLETE", "PRUNED") for _, s in study_trials(isolated_home)
    )
    # The same name again is refused, and the study is left as it was.
    assert tune(*data, "--trials", "4") == 2
    assert "study 'default' already exists (12 trials" in capsys.readouterr().err
    assert len(study_trials(isolated_home)) == 12
    # --resume goes on with the stored data and space.
    assert tune("--resume", "--trials", "4", "--workers", "1") == 0
    assert len(study_trials(isolated_home)) == 16


def test_a_seeded_study_is_the_same_on_one_or_two_workers(
    data: list[str], isolated_home: Path
) -> None:
    assert tune(*data, "--trials", "16", "--workers", "1", "--study", "one") == 0
    assert tune(*data, "--trials", "16", "--workers", "2", "--study", "two") == 0
    storage = open_storage(data_dir(isolated_home))
    import optuna

    one = optuna.load_study(study_name="one", storage=storage).get_trials()
    two = optuna.load_study(study_name="two", storage=storage).get_trials()
    assert [(t.params, t.value, t.user_attrs) for t in one] == [
        (t.params, t.value, t.user_attrs) for t in two
    ]


def test_trials_are_exact_and_apply_then_replay_gives_the_out_of_sample_trades(
    data: list[str], isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tune(*data, "--trials", "8", "--workers", "1", "--min-trades", "0") == 0
    capsys.readouterr()
    import optuna

    study = optuna.load_study(study_name="default", storage=open_storage(data_dir(isolated_home)))
    setup = Setup.from_json(study.user_attrs["setup"])
    best = study.best_trial
    config = tmp_path / "tuned.toml"
    assert main(["--config", str(config), "tune", "apply", str(best.number)]) == 0
    applied = capsys.readouterr().out
    assert f"trial #{best.number} of study 'default' written to {config}" in applied
    settings = load_settings(config, required=True)
    assert settings == trial_settings(setup.settings, best.params)
    # The trial's out-of-sample trades, as the study's worker computes them...
    trial = TrialData.load([Path(p) for p in setup.paths]).replay(
        settings.strategy_params(),
        quote="USDT",
        initial=Decimal(1000),
        from_ms=setup.split.cut,
    )
    assert best.user_attrs["scores"]["out"]["trades"] == len(trial.trades)
    # ...are what `replay --from` gives with the applied config.
    out = tmp_path / "oos.csv"
    cut = str(setup.split.cut)
    assert (
        main(["--config", str(config), "replay", *data, "--from", cut, "--trades-out", str(out)])
        == 0
    )
    assert out.read_text() == trades_csv(trial.trades)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "exits.stop_loss_pct=3:3"], "exits.stop_loss_pct range 3:3 is empty"),
        (["--param", "exits.stop_loss_pct=5:1"], "range 5:1 is inverted"),
        (["--param", "exits.stop_los_pct=1:5"], "unknown setting 'exits.stop_los_pct'"),
        (["--param", "exits.stop_loss_pct=1:120"], "exits.stop_loss_pct must be > 0 and <= 99"),
        (["--param", "budget.quote=1:2"], "unknown setting 'budget.quote'"),
        (["--param", "nonsense"], "expected KEY=LOW:HIGH"),
        (["--objective", "money"], "--objective 'money': unknown"),
        (["--oos", "100"], "--oos 100: must be above 0 and below 100"),
        (["--oos", "90"], "data too short for the split: the in-sample part"),
        (["--trials", "0"], "--trials 0: must be at least 1"),
        (["--ray", "127.0.0.1:9"], "--ray 127.0.0.1:9: no Ray cluster answers there"),
        (["--pairs", "ETH/USDT"], "no 1m candles of ETH/USDT in"),
        (["--pairs", "ETHUSDT"], "--pairs: 'ETHUSDT' is not a pair like BTC/USDT"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_no_study(
    data: list[str],
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert tune(*data, *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    db = data_dir(isolated_home) / "tune.db"
    assert not db.exists() or study_trials(isolated_home) == []


def test_bad_space_file_and_data_too_short(
    tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "space.toml"
    space.write_text("[exits]\nstop_loss_pct = [1]\n")
    data = [str(p) for p in write_klines(tmp_path / "d")]
    assert tune(*data, "--space", str(space)) == 2
    assert f"{space}: exits.stop_loss_pct must be [low, high], got [1]" in capsys.readouterr().err
    space.write_text("[exits]\nstop_loss_pct = [1, 4]\n[risk]\nmax_positions = [1, 5]\n")
    short = [str(p) for p in write_klines(tmp_path / "short", coins=1)]
    Path(short[0]).write_text("\n".join(Path(short[0]).read_text().splitlines()[:1500]) + "\n")
    assert tune(*short, "--space", str(space)) == 2
    assert "data too short for the split" in capsys.readouterr().err


def test_ctrl_c_leaves_the_study_resumable(data: list[str], isolated_home: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "tradebot_tui",
        "tune",
        *data,
        "--trials",
        "5000",
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    line = ""
    while "trials" not in line or "/5000" not in line:  # the first progress line
        assert time.monotonic() < deadline and proc.poll() is None
        line = proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "tune --resume --study default" in err
    states = [s for _, s in study_trials(isolated_home)]
    assert states and "RUNNING" not in states
    done = len(states)
    assert tune("--resume", "--trials", "8", "--workers", "1") == 0
    assert len(study_trials(isolated_home)) == done + 8


def test_the_help_names_every_objective_and_the_app_does_not_import_tune(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tradebot_tui.tune.space import OBJECTIVES

    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(f"{name} (" in text for name in OBJECTIVES)
    code = (
        "import sys, tradebot_tui.cli as c; c.build_parser(); "
        "print(sorted(m for m in sys.modules if 'tune' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['tradebot_tui.cli.tune', 'tradebot_tui.cli.tune_studies']"


def test_apply_writes_the_config_the_study_ran_with_without_a_spurious_note(
    data: list[str], isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran_with = tmp_path / "mine.toml"
    ran_with.write_text("[risk]\nmax_positions = 3\n")
    argv = ["--config", str(ran_with), "tune", *data, "--trials", "4", "--workers", "1"]
    assert main([*argv, "--min-trades", "0"]) == 0
    err = capsys.readouterr().err
    assert f"config        {ran_with}" in err
    assert "settings      risk.max_positions = 3 (default 5)" in err
    # Without --config, apply writes the file the study ran with, and says so.
    assert tune("apply", "1") == 0
    out = capsys.readouterr().out
    assert f"trial #1 of study 'default' written to {ran_with}" in out
    assert "note:" not in out  # the tuned settings differ from the study's: that is the point
    assert load_settings(ran_with, required=True).risk.max_positions == 3
    # A setting the study did not search, changed since: that is worth a note.
    text = ran_with.read_text().replace("max_positions = 3", "max_positions = 4")
    ran_with.write_text(text)
    assert tune("apply", "2") == 0
    assert "note: the study ran with other values of risk.max_positions" in capsys.readouterr().out


def test_apply_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["tune", "apply", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tradebot-tui tune apply [-h] [--study NAME] [--config FILE]")
    assert "--trials" not in out
    with pytest.raises(SystemExit) as done:
        tune("apply", "x")
    assert done.value.code == 2
    assert "argument TRIAL: invalid int value: 'x'" in capsys.readouterr().err


def test_replay_says_which_config_and_settings_it_used(
    data: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", *data]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("config        no file at ") and out[0].endswith(": the defaults")
    assert out[1] == "settings      the defaults"
    config = tmp_path / "c.toml"
    config.write_text("[strategy]\ntrigger_pct = 3.0\n[exits]\nstop_loss_pct = 5.0\n")
    assert main(["--config", str(config), "replay", *data]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"config        {config}"
    assert out[1] == (
        "settings      strategy.trigger_pct = 3.0 (default 2.0), "
        "exits.stop_loss_pct = 5.0 (default 3.0)"
    )


def test_a_timerange_study_splits_that_range_and_its_trials_equal_replay_of_it(
    tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Eight days of data, a study of the middle six (20250102-20250108): the split lies
    inside that range and each part's trades are `replay --from/--to` of it."""
    data = [str(p) for p in write_klines(tmp_path / "data", coins=2, days=8)]
    argv = [*data, "--timerange", "20250102-20250108", "--trials", "4", "--workers", "1"]
    assert tune(*argv, "--min-trades", "0") == 0
    capsys.readouterr()
    import optuna

    study = optuna.load_study(study_name="default", storage=open_storage(data_dir(isolated_home)))
    setup = Setup.from_json(study.user_attrs["setup"])
    start, end = 1_735_776_000_000, 1_736_294_400_000  # 2025-01-02 and 2025-01-08
    assert setup.split.start == start and setup.split.end == end - 1
    assert start < setup.split.cut < end
    best = study.best_trial
    config = tmp_path / "tuned.toml"
    assert main(["--config", str(config), "tune", "apply", str(best.number)]) == 0
    parts = {
        "in": [str(start), str(setup.split.cut - 1)],
        "out": [str(setup.split.cut), str(end - 1)],
    }
    counts = {}
    for part, (first, last) in parts.items():
        out = tmp_path / f"{part}.csv"
        replay = ["replay", *data, "--from", first, "--to", last, "--trades-out", str(out)]
        assert main(["--config", str(config), *replay]) == 0
        counts[part] = len(out.read_text().splitlines()) - 1
        assert best.user_attrs["scores"][part]["trades"] == counts[part], part
    assert counts["in"] > 0 and counts["out"] > 0
    assert tune(*data, "--study", "far", "--timerange", "20260101-") == 2
    assert "nothing of it is in that range" in capsys.readouterr().err


def test_a_drawdown_constraint_prunes_exactly_the_trials_above_it() -> None:
    from tradebot_tui.tune.space import Score, Split

    setup = Setup(
        paths=(), knobs=(), objective="pnl", min_trades=2, oos_pct=30, seed=1, batch=1,
        split=Split(0, 1, 2), base={}, max_drawdown_pct=4.0,
    )  # fmt: skip

    def inside(trades: int, dd_pct: float) -> Score:
        return Score(trades, 1.0, 1.0, 1.0, 0.0, max_drawdown_pct=dd_pct)

    assert setup.feasible(inside(2, 4.0))  # at the limit: allowed
    assert not setup.feasible(inside(2, 4.000001))
    assert not setup.feasible(inside(1, 0.0))  # and still enough trades
    assert Setup.from_json(setup.to_json()) == setup
    assert "at most 4 %" in setup.constraints()


def test_list_and_show_describe_finished_studies_and_warn_on_few_trades(
    data: list[str], isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tune", "list"]) == 2
    assert "no studies yet" in capsys.readouterr().err
    argv = ["--trials", "8", "--workers", "1", "--min-trades", "0", "--objective", "calmar"]
    assert tune(*data, *argv, "--study", "wide", "--max-drawdown", "20") == 0
    table = capsys.readouterr().out
    import optuna

    study = optuna.load_study(study_name="wide", storage=open_storage(data_dir(isolated_home)))
    for t in study.get_trials(deepcopy=False):
        dd = t.user_attrs["scores"]["in"]["max_drawdown_pct"]
        assert (t.state.name == "PRUNED") == (dd > 20), (t.number, dd)
    few = [
        t.number
        for t in study.get_trials(deepcopy=False)
        if min(t.user_attrs["scores"]["in"]["trades"], t.user_attrs["scores"]["out"]["trades"]) < 10
    ]
    if few:
        assert "made fewer than 10 trades in-sample or out-of-sample" in table
    assert main(["tune", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.splitlines()[0].startswith("study")
    row = next(line for line in listed.splitlines() if line.startswith("wide"))
    assert " 8 " in row and "calmar" in row and "C0USDT-1m-2025-01.csv" in row
    best = study.best_trial
    assert main(["tune", "show", str(best.number), "--study", "wide"]) == 0
    shown = capsys.readouterr().out
    assert f"trial #{best.number} of study 'wide': complete" in shown
    scores = best.user_attrs["scores"]
    assert f"{int(scores['in']['trades'])} trades, pnl {scores['in']['pnl']:+.4f}" in shown
    assert f"calmar {scores['out']['calmar']:.3f}" in shown
    assert main(["tune", "show", "99", "--study", "wide"]) == 2
    assert "has trials #0 to #7" in capsys.readouterr().err


def test_walk_forward_reoptimises_each_fold_and_joins_what_replay_gives_on_each_test_part(
    tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = [str(p) for p in write_klines(tmp_path / "data", coins=2, days=12)]
    argv = [*data, "--trials", "6", "--workers", "1", "--min-trades", "0", "--oos", "50"]
    assert tune(*argv, "--folds", "2", "--study", "wf") == 0
    out = capsys.readouterr().out
    import optuna

    storage = open_storage(data_dir(isolated_home))
    joined = 0
    for k in (1, 2):
        study = optuna.load_study(study_name=f"wf-fold{k}", storage=storage)
        setup = Setup.from_json(study.user_attrs["setup"])
        best = study.best_trial
        config = tmp_path / f"fold{k}.toml"
        assert (
            main(
                [
                    "--config",
                    str(config),
                    "tune",
                    "apply",
                    str(best.number),
                    "--study",
                    f"wf-fold{k}",
                ]
            )
            == 0
        )
        trades = tmp_path / f"fold{k}.csv"
        window = ["--from", str(setup.split.cut), "--to", str(setup.split.end)]
        replay = ["replay", *data, *window, "--trades-out", str(trades)]
        assert main(["--config", str(config), *replay]) == 0
        count = len(trades.read_text().splitlines()) - 1
        assert best.user_attrs["scores"]["out"]["trades"] == count
        joined += count
    capsys.readouterr()
    assert "2 folds joined" in out and f": {joined} trades, pnl" in out
    assert "tune apply" in out and "--study wf-fold2" in out
    assert tune(*data, "--folds", "2", "--resume", "--study", "wf") == 2
    assert "--resume" in capsys.readouterr().err
