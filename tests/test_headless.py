"""`tradebot-tui --headless`: the same engine without the UI, logging to stdout."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def killed_at_the_end(
    *procs: subprocess.Popen[bytes] | subprocess.Popen[str] | None,
) -> Iterator[None]:
    """Whatever the test asserts, no process it started outlives it."""
    try:
        yield
    finally:
        for proc in procs:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(5)


def stop_with_sigterm(proc: subprocess.Popen[bytes]) -> bytes:
    """SIGTERM: exit status 0; what it wrote until it ended."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    return proc.stdout.read() if proc.stdout else b""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_headless_logs_to_stdout_and_stops_on_signals(sig: signal.Signals, tmp_path: Path) -> None:
    config = tmp_path / "fast.toml"
    config.write_text("[market]\ntick_interval_ms = 50\n")
    proc = subprocess.Popen(
        [*tradebot_command(), "--headless", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    with killed_at_the_end(proc):
        out = read_until(proc, b"engine started: paper trading on simulated data", 20)
        proc.send_signal(sig)
        out += read_until(proc, b"engine stopped", 10)
        assert proc.wait(10) == 0
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
        with killed_at_the_end(proc):
            out = read_until(proc, b"engine started", 20)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # stopping: the last message is on its way
            out += stop_with_sigterm(proc)  # the second one
        titles = [m["title"] for m in target.received()]
    assert b"received SIGTERM while stopping: the stop goes on" in out
    assert any(title.endswith("Engine stopped") for title in titles), titles


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_without_network_the_bot_waits_for_the_venue_stops_cleanly_and_trades_once_it_answers(
    tmp_path: Path,
) -> None:
    import sys

    port = _free_port()  # nothing listens here yet: the venue is "down"
    config = tmp_path / "late.toml"
    config.write_text(
        '[market]\nsource = "ccxt"\nsymbols = ["BTC/USDT"]\npoll_interval_s = 0.2\n'
        f'[exchange]\nrest_url = "http://127.0.0.1:{port}"\ntimeout_s = 2\n'
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TRADEBOT", "XDG"))},
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    command = [*tradebot_command(), "--headless", "--config", str(config)]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)

    # 1. SIGTERM while connecting: a clean stop, exit 0, no traceback.
    proc = start()
    with killed_at_the_end(proc):
        out = read_until(proc, b"does not answer", 30)
        out += stop_with_sigterm(proc)
    assert b"trying again in" in out
    assert b"Traceback" not in out
    assert b"engine started" not in out

    # 2. The venue comes up late: the same bot connects and trades on its data.
    proc = start()
    with killed_at_the_end(proc):
        read_until(proc, b"does not answer", 30)
        fake = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_exchange", "--port", str(port)],
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            text=True,
        )
        with killed_at_the_end(fake):
            out = read_until(proc, b"engine started: paper trading on binance REST data", 60)
            stop_with_sigterm(proc)
    assert b"Traceback" not in out
