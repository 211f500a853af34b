"""`tradebot-tui status`: the running bot's health for cron and systemd, by exit status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.terminal.ptyterm import tradebot_command
from tests.test_headless import read_until
from tradebot_tui.away.health import HEALTH_FILE, write_health
from tradebot_tui.cli import main
from tradebot_tui.config.locations import locate


def health_path() -> Path:
    return locate(None).data_dir / HEALTH_FILE


def report(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "status": "ok",
        "reasons": [],
        "time": time.time(),
        "pid": os.getpid(),
        "mode": "PAPER",
        "source": "simulated",
        "state": "running",
        "uptime_s": 3723,
        "quote": "USDT",
        "equity": "1003.21",
        "free": "800.00",
        "positions": ["BTC/USDT"],
        "open_orders": 0,
        "trades": 12,
        "feed": "",
        "feed_lag_s": 0.4,
        "ticks": 99,
    }
    return {**base, **fields}


def status(capsys: object, *args: str) -> tuple[int, str]:
    code = main(["status", *args])
    return code, capsys.readouterr().out  # type: ignore[attr-defined]


def test_no_report_is_not_running_exit_2(capsys: object) -> None:
    code, out = status(capsys)
    assert code == 2 and "not running (no health report at" in out


def test_ok_degraded_failing_map_to_0_1_2(capsys: object) -> None:
    path = health_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_health(path, report())
    code, out = status(capsys)
    assert code == 0
    assert out.splitlines()[0].startswith("tradebot-tui: ok: running, PAPER on simulated, pid")
    assert "up 1h02m" in out and "equity 1003.21 USDT" in out and "(BTC/USDT)" in out
    write_health(path, report(status="degraded", reasons=["circuit breaker open"]))
    code, out = status(capsys)
    assert code == 1 and "  - circuit breaker open" in out
    write_health(path, report(status="failing", reasons=["journal cannot be written"]))
    assert status(capsys)[0] == 2
    write_health(path, report(status="stopped", time=1796185800.0))
    code, out = status(capsys)
    assert code == 2 and out == "tradebot-tui: not running (stopped at 2026-12-02 04:30:00 UTC)\n"
    code, out = status(capsys, "--json")
    assert code == 2 and json.loads(out)["status"] == "not running"


def test_a_report_left_by_a_killed_bot_says_so(capsys: object) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = health_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_health(path, report(time=time.time() - 600, pid=dead.pid))
    code, out = status(capsys)
    assert code == 2 and "not running" in out and "killed or crashed" in out


def test_status_of_a_real_headless_bot_then_of_its_end(tmp_path: Path) -> None:
    config = tmp_path / "fast.toml"
    config.write_text("[market]\ntick_interval_ms = 50\n")
    proc = subprocess.Popen(
        [*tradebot_command(), "--headless", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        read_until(proc, b"engine started", 20)
        deadline = time.monotonic() + 10
        while not health_path().exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        up = subprocess.run(
            [*tradebot_command(), "status", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"pid {proc.pid}" in up.stdout
    down = subprocess.run(
        [*tradebot_command(), "status", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert down.returncode == 2 and "not running (stopped at " in down.stdout
