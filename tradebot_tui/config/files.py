"""Files the app reads and writes itself: one TOML reader, and atomic writes.

Config, secrets and themes are all read by `read_toml`, so every one of them reports a
bad file the same way (what is wrong and where, never the file's text). Writes go to a
temp file in the same folder, are fsynced, replace the old file with `os.replace`, and
the folder is fsynced. What records trading (the journal, logs, recordings) is created
readable by the owner only: `private_dir` and `private_file`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any


class TomlFileError(Exception):
    """A TOML file that cannot be read: `reason` says why (never what the file says)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def read_toml(path: Path) -> dict[str, Any]:
    """Read and parse one TOML file.

    Raises:
        FileNotFoundError: there is no file (each caller decides what that means).
        TomlFileError: unreadable, not UTF-8, or a TOML syntax error (with its position).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise TomlFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TomlFileError(path, f"not UTF-8 text (byte {exc.start})") from None
    import tomllib  # here: a start without a config file reads no TOML

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message carries a line and column, never the file's text.
        raise TomlFileError(path, f"TOML syntax error: {exc}") from None


def private_dir(folder: Path) -> Path:
    """Create `folder` (and its parents) readable by the owner only (0700); returns it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    return folder


def private_file(path: Path) -> Path:
    """Create `path` empty, readable by the owner only (0600), unless it exists; its mode
    is 0600 either way. Opening it afterwards keeps the mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
