"""The terminal is always restored: quit key, Ctrl+C, SIGTERM, SIGHUP, SIGINT, a crash."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.terminal.ptyterm import PtyApp

pytestmark = pytest.mark.pty


@pytest.fixture
def env(isolated_home: Path) -> dict[str, str]:
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "COLUMNS", "LINES"))
    }
    keep.update(TERM="xterm-256color", COLORTERM="truecolor")
    return keep


@pytest.fixture
def launch(env: dict[str, str]) -> Iterator[object]:
    apps: list[PtyApp] = []

    def start(*args: str) -> PtyApp:
        app = PtyApp(args, env)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.close()


EXITS = {
    "quit key": lambda app: app.send(b"q"),
    "ctrl+c": lambda app: app.send(b"\x03"),
    "sigterm": lambda app: app.kill(signal.SIGTERM),
    "sighup": lambda app: app.kill(signal.SIGHUP),
    "sigint": lambda app: app.kill(signal.SIGINT),
}


@pytest.mark.parametrize("how", list(EXITS))
def test_terminal_restored_after(how: str, launch) -> None:  # type: ignore[no-untyped-def]
    app = launch()
    app.wait_for_prices()
    EXITS[how](app)
    code = app.wait_exit()
    assert code == 0, app.text()[-2000:]
    assert app.terminal_problems() == []


def test_engine_crash_restores_terminal_and_shows_the_error(launch) -> None:  # type: ignore[no-untyped-def]
    app = launch("--inject-engine-crash", "1.5")
    app.wait_for_prices()
    code = app.wait_exit()
    assert code == 1
    assert app.terminal_problems() == []
    text = app.text()
    assert "the engine crashed: InjectedCrash: injected engine crash" in text
    # The error is printed after the alternate screen is left, so it stays visible.
    out = app.output
    assert out.rfind(b"the engine crashed") > out.rfind(b"\x1b[?1049l")


def test_bad_config_never_touches_the_terminal(launch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text("[strategy]\ntrigger_pct = -1\n")
    app = launch("--config", str(bad))
    code = app.wait_exit()
    assert code == 2
    assert b"\x1b[?1049h" not in app.output
    assert "strategy.trigger_pct" in app.text()
    assert app.terminal_problems() == []


def test_the_checks_do_notice_a_terminal_left_broken(launch) -> None:  # type: ignore[no-untyped-def]
    # SIGKILL cannot be handled: the terminal stays in application mode. This proves the
    # checks above would fail if restoring were broken.
    app = launch()
    app.wait_for_prices()
    app.kill(signal.SIGKILL)
    app.wait_exit()
    problems = app.terminal_problems()
    assert "stty -g differs from before the launch" in problems
    assert "alternate screen left on" in problems


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.4])
def test_signal_during_startup_still_restores_the_terminal(launch, delay: float) -> None:  # type: ignore[no-untyped-def]
    import time

    app = launch()
    time.sleep(delay)
    app.kill(signal.SIGTERM)
    code = app.wait_exit()
    # Early enough, the default action ends the process before it touched the terminal.
    assert code in (0, -signal.SIGTERM)
    assert app.terminal_problems() == []


def test_replay_in_the_app_runs_its_keys_and_restores_the_terminal(  # type: ignore[no-untyped-def]
    launch, tmp_path: Path
) -> None:
    import re

    data = tmp_path / "ticks.csv"
    rows = ["ts_ms,symbol,price"]
    for m in range(600):
        price = 100.0 if m % 10 < 5 else (97.0 if m % 10 < 8 else 101.0)
        rows.append(f"{1_767_225_600_000 + m * 60_000},BTC/USDT,{price}")
    data.write_text("\n".join(rows) + "\n")
    app = launch("replay", "--tui", str(data), "--speed", "600", "--paused")
    app.wait_for(re.compile(rb"REPLAY"), 20)
    app.wait_for(re.compile(rb"x600"), 10)
    app.send(b"+")
    app.wait_for(re.compile(rb"x1,800"), 10)
    app.send(b"n")
    app.send(b"r")
    app.wait_for(re.compile(rb"BTC/USDT"), 10)
    app.send(b"q")
    assert app.wait_exit() == 0, app.text()[-2000:]
    assert app.terminal_problems() == []


def test_a_live_run_not_confirmed_leaves_nothing_behind(  # type: ignore[no-untyped-def]
    launch, env: dict[str, str], tmp_path: Path, isolated_home: Path
) -> None:
    """`--live`, then Escape at the confirmation: no journal is created, nothing is sent,
    and the terminal is as it was."""
    config = tmp_path / "live.toml"
    config.write_text(
        '[market]\nsource = "ccxt"\nsymbols = ["BTC/USDT"]\n'
        '[exchange]\nmode = "live"\nrest_url = "http://127.0.0.1:9"\n'
    )
    env.update(TRADEBOT_API_KEY="key-1", TRADEBOT_API_SECRET="sec-2")
    app = launch("--config", str(config), "--live")
    app.wait_for(re.compile(rb"LIVE"), 20)
    app.send(b"\x1b")
    assert app.wait_exit() == 2
    assert app.terminal_problems() == []
    data = isolated_home / "data" / "tradebot-tui"
    assert not (data / "state.db").exists()
    assert sorted(p.name for p in data.iterdir()) == ["tradebot.lock"]


def test_a_terminal_that_went_away_stops_neither_trading_nor_the_stop(  # type: ignore[no-untyped-def]
    launch, isolated_home: Path
) -> None:
    # The terminal closes (an ssh session dropped, a tmux window killed) while the bot
    # runs: Textual's writer thread dies on the first frame it cannot write, and the
    # frames after it filled its queue. The next frame then waited forever for room:
    # the event loop, and with it the engine and every exit, froze; a stop never came.
    import json
    import time

    app = launch()
    app.wait_for_prices()
    os.close(app.master)  # the terminal is gone: writes to it fail from now on
    time.sleep(8)  # dozens of frames drawn for nobody (the writer's queue holds 30)
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(15) == 0
    logs = [json.loads(line) for f in isolated_home.rglob("tradebot.jsonl*") for line in f.open()]
    gone = [r for r in logs if "the terminal went away" in r.get("msg", r.get("message", ""))]
    assert len(gone) == 1, [r for r in logs][-5:]
    # The engine went on after it: its stop is logged, so is its last word on positions.
    assert any("engine stopped" in r.get("msg", r.get("message", "")) for r in logs)
