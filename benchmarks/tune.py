"""Parameter search speed: `tradebot-tui tune` against freqtrade's hyperopt, same run.

Both search the same space over the five 1m pairs of ../shared/data (the peer recipe in
../shared/peers/freqtrade/README.md, "Hyperopt"): the drop/trigger 1-5 %, take-profit
0.5-5 % and stop-loss 1-8 %, the same number of trials, the same workers (2), profit over
drawdown as the objective. Both are timed as whole commands (interpreter start to exit,
wall clock), so start-up counts for both. Prints:

  - trials a minute, ours and freqtrade's, and the ratio (goal: at least 100x);
  - ours on 1 and on 2 workers over a longer study (--scaling-trials, 300): scaling;
  - exactness: a sample of our trials replayed with `run_replay` (the `replay` command's
    engine) over the same in-sample window, trade count and pnl compared.

Our trials each replay the in-sample and the out-of-sample part (freqtrade's epochs one
backtest over the whole span), so ours do at least as much trading work per trial.

freqtrade lives in its own venv in the user cache dir (created on first use with the
hyperopt extra; needs the package index); --no-peer skips it.

Run: .venv/bin/python benchmarks/tune.py [--trials N] [--no-peer]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import DATA, PEER, PEER_VENV, our_command, setup_peer, timed

SPACE = [
    "strategy.trigger_pct=1:5",
    "exits.take_profit_pct=0.5:5",
    "exits.stop_loss_pct=1:8",
]


def ours(files: list[Path], home: Path, trials: int, workers: int, study: str) -> float:
    cmd, env = our_command(files, home)
    cmd = [c for c in cmd if c != "replay" and not c.endswith(".feather")]
    cmd += ["tune", *map(str, files), "--trials", str(trials), "--workers", str(workers)]
    cmd += ["--study", study, "--objective", "pnl_dd", "--min-trades", "1", "--seed", "1"]
    for p in SPACE:
        cmd += ["--param", p]
    env["XDG_DATA_HOME"] = str(home / "data")
    run = timed(cmd, env=env)
    return run.wall_s


def check_exact(home: Path, study_name: str, sample: int) -> str:
    """Replay a sample of the study's trials with run_replay; compare with the study."""
    import optuna

    from tradebot_tui.replay.runner import run_replay
    from tradebot_tui.tune.space import trial_settings
    from tradebot_tui.tune.study import open_storage
    from tradebot_tui.tune.workers import Setup, load_data

    storage = open_storage(home / "data" / "tradebot-tui")
    study = optuna.load_study(study_name=study_name, storage=storage)
    setup = Setup.from_json(study.user_attrs["setup"])
    data = load_data(setup.paths)
    done = [t for t in study.get_trials() if "scores" in t.user_attrs]
    chosen = random.Random(1).sample(done, min(sample, len(done)))
    same = 0
    for t in chosen:
        settings = trial_settings(setup.settings, t.params)
        result = run_replay(
            data.series,
            settings.strategy_params(),
            quote=settings.budget.quote,
            initial=settings.budget.initial,
            to_ms=setup.split.cut - 1,
        )
        stored = t.user_attrs["scores"]["in"]
        pnl = float(result.stats.pnl)
        if stored["trades"] == result.stats.trades and stored["pnl"] == pnl:
            same += 1
        else:
            print(f"  trial #{t.number}: study {stored}, replay {result.stats.trades} {pnl}")
    return f"{same} of {len(chosen)} sampled trials equal run_replay (trade count and pnl)"


def peer(files: list[Path], work: Path, trials: int) -> float | str:
    backtest = setup_peer(files, work)
    if isinstance(backtest, str):
        return backtest
    python = PEER_VENV / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import optuna"], capture_output=True)
    if probe.returncode != 0:
        print("adding freqtrade's hyperopt extra to its venv (once) ...")
        try:
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "freqtrade[hyperopt]"],
                check=True,
                timeout=1800,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            return f"could not install freqtrade[hyperopt]: {exc}"
    ud = work / "ud"
    shutil.copy(PEER / "DropTriggerHyperopt.py", ud / "strategies")
    markets = work / "markets.json"
    cmd = [
        str(python),
        str(PEER / "ft_offline.py"),
        str(markets),
        "hyperopt",
        "-c",
        str(PEER / "config.json"),
        "--userdir",
        str(ud),
        "--strategy",
        "DropTriggerHyperopt",
        "--fee",
        "0.001",
        "--hyperopt-loss",
        "ProfitDrawDownHyperOptLoss",
        "--spaces",
        "buy",
        "roi",
        "stoploss",
        "-e",
        str(trials),
        "-j",
        "2",
        "--random-state",
        "1",
        "--disable-param-export",
    ]
    return timed(cmd, cwd=PEER).wall_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60, help="trials (epochs) each")
    parser.add_argument("--no-peer", action="store_true", help="skip freqtrade")
    parser.add_argument(
        "--scaling-trials", type=int, default=300, help="trials of the 1 vs 2 workers runs"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    files = sorted(args.data.glob("*.feather"))
    if not files:
        print(f"no feather files in {args.data}")
        return 2
    n = args.trials
    print(f"tune: {len(files)} pairs from {args.data.name}, {n} trials, space {' '.join(SPACE)}")
    with tempfile.TemporaryDirectory(prefix="tune-bench-") as tmp:
        home = Path(tmp) / "home"
        # Three runs, the median: the first run after other work on the machine reads
        # Optuna and numpy from a cold disk cache (seen: 8.6 s instead of 2.2 s).
        times = sorted(ours(files, home, n, 2, f"two{i}") for i in range(3))
        two = times[1]
        rate2 = n / two * 60
        spread = ", ".join(f"{t:.2f}" for t in times)
        print(
            f"ours, 2 workers   {two:7.2f} s  {rate2:8,.0f} trials/min (start-up included; "
            f"median of {spread} s)"
        )
        # Scaling over a longer study, where start-up (about a second) weighs less.
        m = args.scaling_trials
        rates = {}
        for workers in (1, 2):
            spent = ours(files, home, m, workers, f"scale{workers}")
            rates[workers] = m / spent * 60
            print(
                f"ours, {m} trials, {workers} worker(s)  {spent:7.2f} s  "
                f"{rates[workers]:8,.0f} trials/min"
            )
        print(f"scaling 1 -> 2 workers ({m} trials): {rates[2] / rates[1]:.2f}x")
        print("exact: " + check_exact(home, "two0", 10))
        if args.no_peer:
            return 0
        ft = peer(files, Path(tmp) / "peer", n)
        if isinstance(ft, str):
            print(f"freqtrade: skipped ({ft})")
            return 0
        ft_rate = n / ft * 60
        print(f"freqtrade hyperopt, 2 workers {ft:7.2f} s  {ft_rate:8,.0f} epochs/min")
        ratio = rate2 / ft_rate
        verdict = "met" if ratio >= 100 else "NOT met"
        print(f"speed: ours {ratio:.1f}x freqtrade's trials a minute (goal >= 100x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
