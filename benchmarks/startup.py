"""Startup and quit latency of the real `tradebot-tui` in a pseudo-terminal.

Prints, over several launches on the embedded default (paper, simulated market):
  - launch to the first frame showing prices (goal <= 0.5 s, and <= 1.3x a bare Textual
    app's first frame on the same pty),
  - quit key to process exit (goal <= 0.1 s),
  - whether ccxt was imported on the default path (goal: no);
  - the same two times for a bare Textual app (one line of text, `q` quits) on the same
    interpreter and pty, and ours as a multiple of it: what the machine and Textual
    cost before any of our code runs.

Run: .venv/bin/python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.terminal.ptyterm import PtyApp  # noqa: E402


def isolated_env(home: Path) -> dict[str, str]:
    # As a user's shell has it: no TEXTUAL_/TRADEBOT_ settings, and Python keeps its
    # compiled bytecode (pip compiles an installed package; PYTHONDONTWRITEBYTECODE, set in
    # some sandboxes, would make every launch compile the package again).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEXTUAL", "TRADEBOT")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        TERM="xterm-256color",
        COLORTERM="truecolor",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    return env


# The baseline: Textual's import, start, one frame and quit, nothing else.
BARE_APP = """
from textual.app import App
from textual.widgets import Static


class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self):
        yield Static("BTC/USDT   12,345.67")


Bare().run()
"""


def one_run(env: dict[str, str], command: list[str] | None = None) -> tuple[float, float]:
    app = PtyApp([], env, command=command)
    try:
        first_frame = app.wait_for_prices(timeout=30)
        time.sleep(0.3)  # let it run a moment, as a user would
        sent = time.perf_counter()
        app.send(b"q")
        code = app.proc.wait(30)
        quit_s = time.perf_counter() - sent
        if code != 0:
            raise RuntimeError(f"exit code {code}: {app.text()[-1000:]}")
        problems = app.terminal_problems()
        if problems:
            raise RuntimeError(f"terminal not restored: {problems}")
        return first_frame, quit_s
    finally:
        app.close()


def ccxt_on_default_path() -> bool:
    code = (
        "import sys, tradebot_tui.cli, tradebot_tui.ui.app, tradebot_tui.engine.host, "
        "tradebot_tui.exchange.simulator; print('ccxt' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def describe(name: str, values: list[float], goal: float) -> str:
    med = statistics.median(values)
    verdict = "meets" if med <= goal else "MISSES"
    return (
        f"{name:<34} median {med * 1000:7.1f} ms   min {min(values) * 1000:7.1f}   "
        f"max {max(values) * 1000:7.1f}   goal <= {goal * 1000:.0f} ms ({verdict}, "
        f"median/goal = {med / goal:.2f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    frames: list[float] = []
    quits: list[float] = []
    bare_frames: list[float] = []
    bare_quits: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(Path(tmp))
        bare = Path(tmp) / "bare_textual.py"
        bare.write_text(BARE_APP)
        bare_command = [sys.executable, str(bare)]
        one_run(env)  # warm the OS file cache and bytecode, not counted
        one_run(env, bare_command)
        for _ in range(args.runs):  # interleaved: both see the same machine load
            frame, quit_s = one_run(env)
            frames.append(frame)
            quits.append(quit_s)
            frame, quit_s = one_run(env, bare_command)
            bare_frames.append(frame)
            bare_quits.append(quit_s)
    print(f"tradebot-tui startup benchmark, {args.runs} runs, {os.cpu_count()} CPUs")
    print(describe("launch -> first frame with prices", frames, 0.5))
    print(describe("quit key -> process exit", quits, 0.1))
    print(
        f"{'a bare Textual app, same pty':<34} first frame {median_ms(bare_frames):.1f} ms, "
        f"quit {median_ms(bare_quits):.1f} ms"
    )
    ratio = statistics.median(frames) / statistics.median(bare_frames)
    print(
        f"{'ours / bare Textual':<34} first frame {ratio:.2f}x   goal <= 1.30x "
        f"({'meets' if ratio <= 1.3 else 'MISSES'}), "
        f"quit {statistics.median(quits) / statistics.median(bare_quits):.2f}x"
    )
    ccxt = "yes (goal: no)" if ccxt_on_default_path() else "no"
    print(f"{'ccxt imported on the default path':<34} {ccxt}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
