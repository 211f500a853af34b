"""`tradebot-tui status`: the running bot's health for cron and systemd, by exit status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.terminal.ptyterm import tradebot_command
from tests.test_headless import read_until
from tradebot_tui.away.health import HEALTH_FILE, read_health, write_health
from tradebot_tui.cli import main
from tradebot_tui.cli.status import status_lines
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


# -- whatever is in the health file --------------------------------------------------------


def deep(n: int) -> str:
    return "[" * n + "]" * n


BAD_FILES: list[tuple[str, object]] = [
    ("time is a string", report(time="yesterday")),
    ("time is null", report(time=None)),
    ("a huge pid", report(pid=10**30)),
    ("a negative pid", report(pid=-5)),
    ("equity is a number", report(equity=1003.21)),
    ("reasons is a string", report(reasons="all fine")),
    ("an unknown status", report(status="splendid")),
    ("not an object", [1, 2, 3]),
]


@pytest.mark.parametrize(("what", "content"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_health_file_of_another_shape_is_one_line_and_exit_2(
    what: str, content: object, capsys: object
) -> None:
    path = health_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    code, out = status(capsys)
    assert code == 2, what
    assert out.count("\n") == 1 and out.startswith(f"tradebot-tui: {path}: unreadable: "), out


@pytest.mark.parametrize("kind", ["nested", "binary", "huge", "fifo", "directory", "device"])
def test_a_health_file_that_is_not_a_report_is_never_waited_for(kind: str, capsys: object) -> None:
    path = health_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "nested":
        path.write_text(deep(100_000))
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00garbage")
    elif kind == "huge":
        path.write_text(json.dumps(report(reasons=["x" * 2_000_000])))
    elif kind == "fifo":
        os.mkfifo(path)  # nobody writes: a blocking read would wait forever
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")  # endless
    started = time.monotonic()
    code, out = status(capsys)
    assert code == 2 and out.startswith(f"tradebot-tui: {path}: unreadable: ")
    assert time.monotonic() - started < 10  # answered, not blocked


def test_a_bot_that_died_is_not_running_at_once_even_with_a_fresh_report(capsys: object) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = health_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_health(path, report(pid=dead.pid))  # written a moment ago
    code, out = status(capsys, "--json")
    data = json.loads(out)
    assert code == 2 and data["status"] == "not running" and data["state"] == "not running"
    assert "killed or crashed" in data["reasons"][0]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda c: (
                st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=5)
            ),
            max_leaves=15,
        ).map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {},
            optional={
                key: st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text())
                for key in ("status", "time", "pid", "state", "equity", "reasons", "uptime_s")
            },
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_any_health_file_is_read_or_called_unreadable(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / HEALTH_FILE
        path.write_bytes(data)
        code, report_ = read_health(path)
        text = status_lines(code, report_, path)
    assert code in ("ok", "degraded", "failing", "not running", "unreadable")
    assert text.startswith("tradebot-tui: ")
