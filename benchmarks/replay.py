"""Replay speed and memory, side by side with freqtrade's backtest of the same data.

Replays the five 1m pairs of ../shared/data (about 864k ticks) with `tradebot-tui replay`
and, where freqtrade can be set up as ../shared/peers/freqtrade/README.md shows, runs
freqtrade's backtest of the same candles in the same run. Both are timed as whole commands
(interpreter start to exit, wall clock) and their peak resident memory is read from the
kernel (wait4). Prints each figure and the ratios:

  - speed: freqtrade's whole command / ours (goal >= 10x),
  - memory: our peak / freqtrade's peak (goal <= 1/6).

--scaling adds how cost grows: 20 pairs of 1m candles over 1, 3 and 12 months, written
as freqtrade feather files (LZ4, as freqtrade writes them; a seeded random walk with
sudden drops, cached in the user cache dir), replayed by both, one run each, side by
side: time, peak memory, candles per second and the ratios at each size. Ours streams
the files, so its time should grow linearly and its memory stay flat.

freqtrade lives in its own venv in the user cache dir (created on first use, needs the
package index); it is never a dependency of this project. --no-peer skips it.

Run: .venv/bin/python benchmarks/replay.py [--runs N] [--data DIR] [--no-peer] [--scaling]
"""

from __future__ import annotations

import argparse
import json
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
    # As a user's shell has it: no TRADEBOT_ settings, and bytecode kept as an installed
    # package has it (PYTHONDONTWRITEBYTECODE, set in some sandboxes, would recompile the
    # package at every run; freqtrade's venv is compiled at install).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRADEBOT") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"))
    return [sys.executable, "-m", "tradebot_tui", "replay", *map(str, files)], env


def setup_peer(files: list[Path], work: Path, pairs: list[str] | None = None) -> list[str] | str:
    """freqtrade's command line, or why it cannot run here. `pairs`: synthetic pairs
    (P00/USDT...) whose markets are cloned from BTC/USDT's, and a config listing them."""
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
    config = PEER / "config.json"
    if pairs is not None:
        config = work / "config.json"
        clone_markets(markets, pairs)
        settings = json.loads((PEER / "config.json").read_text())
        settings["exchange"]["pair_whitelist"] = pairs
        config.write_text(json.dumps(settings, indent=1))
    return [
        str(python),
        str(PEER / "ft_offline.py"),
        str(markets),
        "backtesting",
        "-c",
        str(config),
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


def clone_markets(path: Path, pairs: list[str]) -> None:
    """Add a market for each synthetic pair, a copy of BTC/USDT's under the pair's name."""
    markets = json.loads(path.read_text())
    btc = next(m for m in markets if m["symbol"] == "BTC/USDT")
    for pair in pairs:
        base = pair.split("/")[0]
        m = json.loads(json.dumps(btc))
        m.update(id=f"{base}USDT", symbol=pair, base=base, baseId=base)
        m["lowercaseId"] = f"{base.lower()}usdt"
        m["info"].update(symbol=f"{base}USDT", baseAsset=base)
        markets.append(m)
    path.write_text(json.dumps(markets))


def pair_files(folder: Path, pairs: int = 20) -> list[Path]:
    """The files `generate` writes in `folder`."""
    return [folder / f"P{p:02d}_USDT-1m.feather" for p in range(pairs)]


def generate(folder: Path, months: int, pairs: int = 20) -> list[Path]:
    """`pairs` files of 1m candles over `months` x 30 days, as freqtrade writes them."""
    import random
    from datetime import UTC, datetime

    folder.mkdir(parents=True, exist_ok=True)
    minutes = months * 30 * 24 * 60
    start = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()) * 1000
    paths = pair_files(folder, pairs)
    for p, path in enumerate(paths):
        if path.exists():
            continue
        import pyarrow as pa
        import pyarrow.feather as feather

        rng = random.Random(p)
        gauss, rand = rng.gauss, rng.random
        price = 10.0 + p
        o_, h_, l_, c_ = [], [], [], []
        for _ in range(minutes):
            o = price
            # A drop of 2.5 % about 20 times a month, and a drift that makes up for
            # them: prices wander around their level instead of sinking to nothing.
            c = o * (1.0000125 + gauss(0, 0.0015) - (0.025 if rand() < 0.0005 else 0.0))
            c = max(c, 0.0001)
            hi, lo = (o, c) if o > c else (c, o)
            o_.append(o)
            h_.append(hi * (1 + abs(gauss(0, 0.0008))))
            l_.append(lo * (1 - abs(gauss(0, 0.0008))))
            c_.append(c)
            price = c
        table = pa.table(
            {
                "date": pa.array(
                    [(start + i * 60_000) * 1_000_000 for i in range(minutes)],
                    pa.timestamp("ns", tz="UTC"),
                ),
                "open": o_,
                "high": h_,
                "low": l_,
                "close": c_,
                "volume": [1.0] * minutes,
            }
        )
        tmp = path.with_suffix(".tmp")
        feather.write_feather(table, tmp, compression="lz4")
        tmp.rename(path)
    return paths


def scaling(no_peer: bool) -> None:
    """Ours and freqtrade's over 1, 3 and 12 months of 20 pairs, side by side."""
    cache = Path(platformdirs.user_cache_dir("tradebot-tui-bench")) / "scaling-v2"
    print("scaling: 20 pairs of 1m candles (generated, cached in", cache, ")")
    header = (
        f"{'months':>6} {'candles':>11} | {'ours s':>7} {'ours MB':>8} {'candles/s':>10} | "
        f"{'freqtrade s':>11} {'ft MB':>7} {'candles/s':>10} | {'speed':>6} {'memory':>7}"
    )
    print(header)
    print("-" * len(header))
    for months in (1, 3, 12):
        # Generated in a process of its own: a child's peak memory, as the kernel reports
        # it, includes its parent's size when it was forked, so the parent stays small.
        subprocess.run(
            [sys.executable, __file__, "--generate", str(cache / f"{months}m"), str(months)],
            check=True,
        )
        files = pair_files(cache / f"{months}m")
        candles = months * 30 * 24 * 60 * len(files)
        with tempfile.TemporaryDirectory(prefix="tradebot-bench-") as tmp:
            work = Path(tmp)
            cmd, env = our_command(files, work / "home")
            ours = timed(cmd, env=env)
            peer: list[str] | str = "skipped (--no-peer)"
            if not no_peer:
                pairs = [f"{f.name.split('_')[0]}/USDT" for f in files]
                peer = setup_peer(files, work, pairs)
            theirs = timed(peer, cwd=PEER) if isinstance(peer, list) else None
        line = (
            f"{months:>6} {candles:>11,} | {ours.wall_s:>7.1f} {ours.peak_mb:>8.0f} "
            f"{candles / ours.wall_s:>10,.0f} | "
        )
        if theirs is None:
            line += f"freqtrade not run: {peer}"
        else:
            line += (
                f"{theirs.wall_s:>11.1f} {theirs.peak_mb:>7.0f} "
                f"{candles / theirs.wall_s:>10,.0f} | {theirs.wall_s / ours.wall_s:>5.1f}x "
                f"{ours.peak_mb / theirs.peak_mb:>7.3f}"
            )
        print(line, flush=True)


def figure(pattern: str, text: str) -> str:
    m = re.search(pattern, text, re.MULTILINE)
    return m.group(1) if m else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (median)")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of *-1m.feather files")
    parser.add_argument("--no-peer", action="store_true", help="do not run freqtrade")
    parser.add_argument(
        "--scaling", action="store_true", help="also 1/3/12 months of 20 generated pairs"
    )
    parser.add_argument("--generate", nargs=2, metavar=("DIR", "MONTHS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(Path(args.generate[0]), int(args.generate[1]))
        return 0
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
        if args.scaling:
            scaling(args.no_peer)
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
        f"speed ratio  (freqtrade / ours):  {speed:.1f}x   goal >= 10x   "
        f"{'met' if speed >= 10 else 'NOT met'}"
    )
    print(
        f"memory ratio (ours / freqtrade):  {memory:.3f}   goal <= 1/6 (0.167)  "
        f"{'met' if memory <= 1 / 6 else 'NOT met'}"
    )
    if args.scaling:
        print()
        scaling(args.no_peer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
