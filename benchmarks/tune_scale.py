"""Tuning at scale: memory and trials a minute on many pairs over long spans.

Generates (once, cached) N pairs x M months of 1m candles as freqtrade feather files
(random walks with drops, so the strategy trades), then runs `tradebot-tui tune` on them
with 1 and with 2 local workers, the same seeded study, and prints for each:

  - trials a minute (the search alone: from the first trial to the last, read from the
    study's own trial times, so loading the data is not counted), and the wall time;
  - the peak memory of the whole process tree (the command and its workers), sampled
    every 0.2 s: the sum of PSS (each page shared by forked workers counted once: the
    physical memory used) and the sum of RSS (shared pages counted in every process);
  - the scaling from 1 to 2 workers (goal >= 1.7x) and the peak PSS against its goal
    (<= 1.5 GB for a year of 50 pairs);
  - with --ray: the same study on a Ray head started here on 127.0.0.1 (2 CPUs, the
    `ray` extra), compared trial by trial with the 2-worker study (settings, value,
    figures), and its time (the Ray processes' memory is not counted).

Run: .venv/bin/python benchmarks/tune_scale.py [--pairs 50] [--months 12] [--trials 64] [--ray]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tradebot_tui.data.history import Candles, write_history  # noqa: E402

START_MS = 1_704_067_200_000  # 2024-01-01
MINUTE = 60_000
SPACE = ["strategy.trigger_pct=1:5", "exits.take_profit_pct=0.5:5", "exits.stop_loss_pct=1:8"]


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "tradebot-tui-bench" / "tune_scale"


def make_data(pairs: int, months: int) -> list[Path]:
    """N pairs of M months (30 days each) of 1m candles: a walk with a 3-6 % fall over
    half an hour to an hour and a half about every day and a half, cached by size
    (numpy, which Optuna brings, draws them)."""
    import numpy as np

    folder = cache_dir() / f"{pairs}x{months}"
    paths = [folder / f"P{k:03d}_USDT-1m.feather" for k in range(pairs)]
    if all(p.exists() for p in paths):
        return paths
    minutes = months * 30 * 1440
    for k, path in enumerate(paths):
        rng = np.random.default_rng(k)
        steps = rng.normal(0.0, 0.0008, minutes)
        for start in np.flatnonzero(rng.random(minutes) < 1 / 2000):
            length = int(rng.integers(30, 91))
            steps[start : start + length] -= rng.uniform(0.03, 0.06) / length
        close = (100.0 + k) * np.exp(np.cumsum(steps))
        open_ = np.concatenate(([100.0 + k], close[:-1]))
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0003, minutes)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0003, minutes)))
        candles = Candles()
        candles.ts.frombytes((START_MS + np.arange(minutes, dtype=np.int64) * MINUTE).tobytes())
        for column, values in zip(
            candles.values(), (open_, high, low, close, np.ones(minutes)), strict=True
        ):
            column.frombytes(values.astype(np.float64).tobytes())
        write_history(path, candles)
        print(f"  generated {path.name} ({k + 1}/{pairs})", file=sys.stderr)
    return paths


def memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KB (0, 0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    pss = rss = 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            pss = int(line.split()[1])
        elif line.startswith("Rss:"):
            rss = int(line.split()[1])
    return pss, rss


def tree(pid: int) -> list[int]:
    """The process and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        todo.extend(int(c) for c in children)
    return out


def run(
    files: list[Path], home: Path, workers: int, trials: int, study: str, ray: str = ""
) -> dict[str, float]:
    cmd = [str(Path(sys.executable).parent / "tradebot-tui"), "tune", *map(str, files)]
    cmd += ["--trials", str(trials), "--study", study]
    cmd += ["--ray", ray] if ray else ["--workers", str(workers)]
    cmd += ["--min-trades", "1", "--seed", "1", "--batch", "8"]
    for p in SPACE:
        cmd += ["--param", p]
    env = {**os.environ, "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home)}
    env.update(LOOPBACK_ONLY)
    peak = {"pss": 0, "rss": 0}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            pss = rss = 0
            for p in tree(proc.pid):
                a, b = memory_kb(p)
                pss, rss = pss + a, rss + b
            peak["pss"], peak["rss"] = max(peak["pss"], pss), max(peak["rss"], rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"tune exited {proc.returncode}: {err.decode()[-2000:]}")
    return {"wall": wall, "search": search_seconds(home, study), **peak}


# Ray on 127.0.0.1 only (else it resolves loopback to the machine's outward address).
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def same_on_ray(files: list[Path], home: Path, trials: int) -> str:
    """The 2-worker study again on a local Ray head; how many trials equal it."""
    import optuna

    from tradebot_tui.tune.study import open_storage

    ray = Path(sys.executable).parent / "ray"
    if not ray.exists():
        return "skipped (no ray here: pip install -e '.[ray]')"
    env = {**os.environ, **LOOPBACK_ONLY}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = [str(ray), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1"]
    start += ["--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(start, env=env, check=True, timeout=300, capture_output=True)
    try:
        r = run(files, home, 2, trials, "ray", ray=f"127.0.0.1:{port}")
    finally:
        subprocess.run([str(ray), "stop", "--force"], env=env, timeout=300, capture_output=True)
    storage = open_storage(home / "data" / "tradebot-tui")
    local, remote = (
        optuna.load_study(study_name=name, storage=storage).get_trials() for name in ("w2", "ray")
    )
    same = sum(
        (a.params, a.value, a.state, a.user_attrs) == (b.params, b.value, b.state, b.user_attrs)
        for a, b in zip(local, remote, strict=False)
    )
    return (
        f"{same} of {len(local)} trials equal the 2-worker study's "
        f"({trials / r['search'] * 60:,.1f} trials/min, wall {r['wall']:.1f} s)"
    )


def search_seconds(home: Path, study: str) -> float:
    """From the first trial's start to the last one's end, as the study recorded them."""
    import optuna

    from tradebot_tui.tune.study import open_storage

    storage = open_storage(home / "data" / "tradebot-tui")
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    first = min(t.datetime_start for t in trials if t.datetime_start)
    last = max(t.datetime_complete for t in trials if t.datetime_complete)
    return (last - first).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument(
        "--ray", action="store_true", help="also the 2-worker study on a local Ray head"
    )
    args = parser.parse_args()
    files = make_data(args.pairs, args.months)
    size = sum(p.stat().st_size for p in files) / 1e6
    print(
        f"tune at scale: {args.pairs} pairs x {args.months} months of 1m candles "
        f"({size:,.0f} MB of feather), {args.trials} trials, {os.cpu_count()} CPUs"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            r = results[workers] = run(files, Path(tmp), workers, args.trials, f"w{workers}")
            print(
                f"  {workers} worker(s): {args.trials / r['search'] * 60:8,.1f} trials/min "
                f"(search {r['search']:.1f} s, wall {r['wall']:.1f} s); peak memory "
                f"{r['pss'] / 1e6:.2f} GB PSS, {r['rss'] / 1e6:.2f} GB RSS summed"
            )
        if args.ray:
            print(f"  on Ray: {same_on_ray(files, Path(tmp), args.trials)}")
    scaling = results[1]["search"] / results[2]["search"]
    peak = max(r["pss"] for r in results.values()) / 1e6
    verdict = "met" if scaling >= 1.7 else "NOT met"
    print(f"  scaling 1 -> 2 workers  {scaling:.2f}x   goal >= 1.70x   {verdict}")
    verdict = "met" if peak <= 1.5 else "NOT met"
    print(
        f"  peak memory (PSS)       {peak:.2f} GB   goal <= 1.50 GB (a year of 50 pairs)  {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
