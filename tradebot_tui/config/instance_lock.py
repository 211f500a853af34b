"""One process per data dir: an OS lock that the kernel releases when its holder dies.

Two bots on the same data dir would share a journal and derive the same client ids. The
lock is `fcntl.flock` on `<data dir>/tradebot.lock`, which holds the holder's pid: a second
start is refused with that pid, and a lock left by a process killed with SIGKILL is free
again at once (the kernel dropped it with the process), so the next start takes it over.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from tradebot_tui.config.files import private_dir
from tradebot_tui.core.errors import TradebotError

LOCK_FILE = "tradebot.lock"


class InstanceLocked(TradebotError):
    """Another tradebot-tui runs on this data dir."""


class InstanceLock:
    """The exclusive lock of one data dir, held for the life of the process."""

    def __init__(
        self, data_dir: Path, name: str = LOCK_FILE, busy: Callable[[str], str] | None = None
    ) -> None:
        self.path = data_dir / name
        # The refusal, given the holder's pid (another lock than the bot's says its own).
        self._busy = busy or (
            lambda holder: (
                f"another tradebot-tui (pid {holder}) is running on "
                f"{data_dir}; one process per data dir (stop it first, or use another "
                "profile's data dir)"
            )
        )
        self._fd: int | None = None
        self._registered = False  # the fork callback (callbacks cannot be unregistered)

    def acquire(self) -> None:
        """Take the lock, or refuse.

        Raises:
            InstanceLocked: another live process holds it (its pid is in the message).
        """
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise InstanceLocked(self._busy(holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        if not self._registered:
            # A forked child (tune's worker processes) would hold the lock on as long as
            # it lives (flock belongs to the open file, shared by fork): it drops its copy.
            os.register_at_fork(after_in_child=self._drop_in_child)
            self._registered = True

    def _drop_in_child(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file drops the lock
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
