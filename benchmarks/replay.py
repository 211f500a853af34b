"""Replay speed and memory, side by side with freqtrade's backtest of the same data.

Replays the five 1m pairs of ../shared/data (about 864k ticks) with `tradebot-tui replay`
and, where freqtrade can be set up as ../shared/peers/freqtrade/README.md shows, runs
freqtrade's backtest of the same candles in the same run. Both are timed as whole commands
(interpreter start to exit, wall clock) and their peak resident memory is read from the
kernel (wait4). Prints each figure and the ratios:

  - speed: freqtrade's whole command / ours (goal >= 5x),
  - memory: our peak / freqtrade's peak (goal <= 0.25).

freqtrade lives in its own venv in the user cache dir (created on first use, needs the
package index); it is never a dependency of this project. --no-peer skips it.

Run: .venv/bin/python benchmarks/replay.py [--runs N] [--data DIR] [--no-peer]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TRADEBOT_SHARED_DATA") or ROOT.parent / "shared" / "data").parent
DATA = SHARED / "data" / "ohlcv" / "binance_spot_1m_2026-03_5pairs"
PEER = SHARED / "peers" / "freqtrade"
PEER_VENV = Path(platformdirs.user_cache_dir("tradebot-tui-bench")) / "freqtrade-venv"


@dataclass
class Run:
    wall_s: float
    peak_mb: float
    output: str


def timed(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run `cmd` to its end; wall time and the child's peak RSS (from wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-3000:]}")
    return Run(wall, usage.ru_maxrss / 1024, output)


def our_command(files: list[Path], home: Path) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"))
    return [sys.executable, "-m", "tradebot_tui", "replay", *map(str, files)], env


def setup_peer(files: list[Path], work: Path) -> list[str] | str:
    """freqtrade's command line, or why it cannot run here."""
    if not PEER.is_dir():
        return f"no peer recipe at {PEER}"
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(f"setting up freqtrade in {PEER_VENV} (once; needs the package index) ...")
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "freqtrade"], check=True, timeout=1800
            )
        except (subprocess.SubprocessError, OSError) as exc:
            shutil.rmtree(PEER_VENV, ignore_errors=True)
            return f"could not install freqtrade: {exc}"
    ud = work / "ud"
    (ud / "strategies").mkdir(parents=True)
    (ud / "data" / "binance").mkdir(parents=True)
    shutil.copy(PEER / "DropTrigger.py", ud / "strategies")
    for f in files:
        shutil.copy(f, ud / "data" / "binance")
    markets = work / "markets.json"
    subprocess.run(
        [str(python), str(PEER / "make_markets.py"), str(markets)],
        check=True,
        cwd=PEER,
        capture_output=True,
    )
    return [
        str(python),
        str(PEER / "ft_offline.py"),
        str(markets),
        "backtesting",
        "-c",
        str(PEER / "config.json"),
        "--userdir",
        str(ud),
        "--strategy",
        "DropTrigger",
        "--fee",
        "0.001",
        "--cache",
        "none",
        "--export",
        "none",
    ]


def figure(pattern: str, text: str) -> str:
    m = re.search(pattern, text, re.MULTILINE)
    return m.group(1) if m else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (median)")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of *-1m.feather files")
    parser.add_argument("--no-peer", action="store_true", help="do not run freqtrade")
    args = parser.parse_args()
    files = sorted(args.data.glob("*-1m.feather"))
    if not files:
        print(f"no *-1m.feather files in {args.data}; set TRADEBOT_SHARED_DATA", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="tradebot-bench-") as tmp:
        work = Path(tmp)
        ours_cmd, ours_env = our_command(files, work / "home")
        peer = "skipped (--no-peer)" if args.no_peer else setup_peer(files, work)
        ours: list[Run] = []
        theirs: list[Run] = []
        # One unmeasured run of each: file cache, compiled bytecode.
        timed(ours_cmd, env=ours_env)
        if isinstance(peer, list):
            timed(peer, cwd=PEER)
        for _ in range(args.runs):
            ours.append(timed(ours_cmd, env=ours_env))
            if isinstance(peer, list):
                theirs.append(timed(peer, cwd=PEER))

    out = ours[-1].output
    trades = figure(r"^trades\s+(\d+)", out)
    loop_speed = figure(r"^speed\s+([\d,]+) ticks/s", out)
    ticks = int(figure(r"^ticks\s+([\d,]+)", out).replace(",", ""))
    wall = statistics.median(r.wall_s for r in ours)
    peak = max(r.peak_mb for r in ours)
    print(f"data: {len(files)} files in {args.data}")
    print(f"runs: {args.runs} of each command, median wall time, highest peak memory")
    print()
    print("tradebot-tui replay")
    print(f"  ticks                 {ticks:,}")
    print(f"  trades                {trades}")
    print(f"  replay loop           {loop_speed} ticks/s")
    print(f"  whole command         {wall:.2f} s ({ticks / wall:,.0f} ticks/s)")
    print(f"  peak memory           {peak:.0f} MB")
    print()
    if not theirs:
        print(f"freqtrade: not run: {peer}")
        return 0
    ft_wall = statistics.median(r.wall_s for r in theirs)
    ft_peak = max(r.peak_mb for r in theirs)
    ft_out = theirs[-1].output
    ft_trades = figure(r"TOTAL\s*│\s*(\d+)", ft_out)
    print(f"freqtrade backtesting ({len(files)} pairs, closed-candle semantics)")
    print(f"  trades                {ft_trades}")
    print(f"  whole command         {ft_wall:.2f} s")
    print(f"  peak memory           {ft_peak:.0f} MB")
    print()
    speed = ft_wall / wall
    memory = peak / ft_peak
    print(
        f"speed ratio  (freqtrade / ours):  {speed:.1f}x   goal >= 5x   "
        f"{'met' if speed >= 5 else 'NOT met'}"
    )
    print(
        f"memory ratio (ours / freqtrade):  {memory:.2f}    goal <= 0.25  "
        f"{'met' if memory <= 0.25 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
