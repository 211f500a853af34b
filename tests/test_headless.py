"""`tradebot-tui --headless`: the same engine without the UI, logging to stdout."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.terminal.ptyterm import tradebot_command


def read_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float) -> bytes:
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while needle not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or (proc.poll() is not None and not sel.select(0)):
                raise AssertionError(f"{needle!r} not seen; output so far:\n{seen.decode()}")
            if sel.select(min(left, 0.2)):
                seen += os.read(proc.stdout.fileno(), 65536)
    return seen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_headless_logs_to_stdout_and_stops_on_signals(sig: signal.Signals, tmp_path: Path) -> None:
    config = tmp_path / "fast.toml"
    config.write_text("[market]\ntick_interval_ms = 50\n")
    proc = subprocess.Popen(
        [*tradebot_command(), "--headless", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        out = read_until(proc, b"engine started: paper trading on simulated data", 20)
        proc.send_signal(sig)
        out += read_until(proc, b"engine stopped", 10)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert f"received {sig.name}, stopping".encode() in out
    assert b"\x1b[" not in out  # plain text, no terminal control


def test_headless_engine_crash_exits_1_with_the_error() -> None:
    proc = subprocess.run(
        [*tradebot_command(), "--headless", "--inject-engine-crash", "0.3"],
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert b"the engine crashed: InjectedCrash" in proc.stderr
    assert b"engine failed: InjectedCrash" in proc.stdout


def test_a_second_signal_while_stopping_does_not_cut_the_last_notification(
    tmp_path: Path,
) -> None:
    from tests.fake_notify import NotifyTarget

    config = tmp_path / "fast.toml"
    config.write_text("[market]\ntick_interval_ms = 50\n[notify]\ncoalesce_s = 0.1\n")
    with NotifyTarget() as target:
        target.delay_s = 1.0  # the stop's message takes a second to deliver
        env = {**os.environ, "TRADEBOT_NOTIFY_URLS": target.url()}
        proc = subprocess.Popen(
            [*tradebot_command(), "--headless", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            out = read_until(proc, b"engine started", 20)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # stopping: the last message is on its way
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
            out += proc.stdout.read() if proc.stdout else b""  # type: ignore[operator]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        titles = [m["title"] for m in target.received()]
    assert b"received SIGTERM while stopping: the stop goes on" in out
    assert any(title.endswith("Engine stopped") for title in titles), titles
