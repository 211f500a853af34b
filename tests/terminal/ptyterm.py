"""Run the real `tradebot-tui` in a pseudo-terminal: send keys and signals, read the screen.

Used by the terminal tests and by benchmarks/startup.py. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[PX^_].*?\x1b\\|\x1b\][^\x07]*\x07|\x1b[@-Z\\-_]")
PRICE_ROW = re.compile(rb"BTC/USDT\s+\d[\d,]*\.\d+")


def tradebot_command() -> list[str]:
    """The installed console script next to this interpreter."""
    script = Path(sys.executable).parent / "tradebot-tui"
    if not script.exists():
        raise FileNotFoundError(f"{script} is missing: install the package (pip install -e .)")
    return [str(script)]


def stty_state(fd: int) -> str:
    """`stty -g` of the terminal behind `fd`."""
    out = subprocess.run(["stty", "-g"], stdin=fd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


class PtyApp:
    """One process on a fresh pty of `cols` x `rows`: `tradebot-tui args` by default."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        cols: int = 120,
        rows: int = 36,
        command: Sequence[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.stty_before = stty_state(self.slave)
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            [*(tradebot_command() if command is None else command), *args],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._chunks.append(data)

    @property
    def output(self) -> bytes:
        with self._lock:
            return b"".join(self._chunks)

    def text(self) -> str:
        """Everything written so far, escape sequences removed."""
        return CSI.sub(b"", self.output).decode("utf-8", "replace")

    def wait_for(self, pattern: re.Pattern[bytes], timeout: float) -> float:
        """Wait until the escape-free output matches; return seconds since the launch."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if pattern.search(CSI.sub(b"", self.output)):
                return time.perf_counter() - self.started_at
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        raise TimeoutError(
            f"no match for {pattern.pattern!r} within {timeout}s "
            f"(exit code {self.proc.poll()}); screen text:\n{self.text()[-3000:]}"
        )

    def wait_for_prices(self, timeout: float = 20) -> float:
        return self.wait_for(PRICE_ROW, timeout)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def kill(self, sig: signal.Signals) -> None:
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout: float = 15) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise
        time.sleep(0.05)  # let the reader drain what is left
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- terminal state checks -----------------------------------------------------------

    def terminal_problems(self) -> list[str]:
        """What the process left wrong in the terminal (empty when it was restored)."""
        out = self.output
        problems = []
        if stty_state(self.slave) != self.stty_before:
            problems.append("stty -g differs from before the launch")
        for name, on, off in (
            ("alternate screen", b"\x1b[?1049h", b"\x1b[?1049l"),
            ("hidden cursor", b"\x1b[?25l", b"\x1b[?25h"),
            ("mouse reporting", b"\x1b[?1000h", b"\x1b[?1000l"),
            ("bracketed paste", b"\x1b[?2004h", b"\x1b[?2004l"),
        ):
            if out.rfind(on) > out.rfind(off):
                problems.append(f"{name} left on")
        return problems
