"""One process per data dir: a second start is refused with the holder's pid; a lock left
by a process killed with SIGKILL is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.terminal.ptyterm import tradebot_command
from tests.test_headless import read_until
from tradebot_tui.cli import main
from tradebot_tui.config.instance_lock import InstanceLock, InstanceLocked

HOLD = """
import sys, time
from pathlib import Path
from tradebot_tui.config.instance_lock import InstanceLock
InstanceLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_holder_is_refused_with_the_pid_and_a_killed_ones_lock_is_taken_over(
    tmp_path: Path,
) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE)
    try:
        read_until(holder, b"locked", 20)
        with pytest.raises(InstanceLocked, match=f"pid {holder.pid}"):
            InstanceLock(tmp_path).acquire()
        holder.send_signal(signal.SIGKILL)  # the kernel drops its lock
        holder.wait(10)
        with InstanceLock(tmp_path) as lock:
            assert lock.path.read_text().strip() == str(os.getpid())
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(5)
    assert oct(lock.path.stat().st_mode & 0o777) == "0o600"


def test_a_second_tradebot_on_the_same_data_dir_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fast.toml"
    config.write_text("[market]\ntick_interval_ms = 50\n")
    first = subprocess.Popen(
        [*tradebot_command(), "--headless", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        read_until(first, b"engine started", 20)
        started = time.monotonic()
        code = main(["--headless", "--config", str(config)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and time.monotonic() - started < 5
        assert len(err) == 1 and f"another tradebot-tui (pid {first.pid})" in err[0]
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(10)


def test_a_forked_child_does_not_keep_the_lock(tmp_path: Path) -> None:
    """tune's worker processes are forked while the study's lock is held."""
    lock = InstanceLock(tmp_path)
    lock.acquire()
    ready, told = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child (fork's callbacks done): says so, stays alive a while
        os.write(told, b"x")
        time.sleep(3)
        os._exit(0)
    try:
        assert os.read(ready, 1) == b"x"
        lock.release()
        again = InstanceLock(tmp_path)
        again.acquire()  # the child's copy did not keep it
        again.release()
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(ready)
        os.close(told)
