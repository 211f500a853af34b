"""Logging: an in-memory ring for the logs screen, rotating JSON-lines files, redaction.

Engine code logs through `logging.getLogger("tradebot.<part>")`, with structured fields
passed as `extra={"fields": {...}}`. Secret values loaded in this process are replaced
by a mask before a line reaches any handler.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import queue
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradebot_tui.config.credentials import loaded_secret_values
from tradebot_tui.config.files import private_dir, private_file
from tradebot_tui.core.errors import TradebotError

ROOT = "tradebot"
MASK = "********"
LOG_FILE = "tradebot.jsonl"


def redact(text: str) -> str:
    """`text` safe to show and write: every loaded secret value masked, and what UTF-8
    cannot hold (a lone surrogate, from a chat message say) escaped as `\\udcxx`."""
    for value in loaded_secret_values():
        if value in text:
            text = text.replace(value, MASK)
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line as the logs screen shows it."""

    seq: int
    ts_ms: int
    level: str
    logger: str
    message: str
    fields: tuple[tuple[str, str], ...]


class LogRing(logging.Handler):
    """The last `capacity` log lines, numbered, for the logs screen (bounded memory)."""

    def __init__(self, capacity: int = 2000) -> None:
        super().__init__(logging.INFO)
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._seq = 0
        # Engine time for the stamps (so simulated and replayed runs show their own time).
        self.clock: Callable[[], int] | None = None

    @property
    def last_seq(self) -> int:
        return self._seq

    def emit(self, record: logging.LogRecord) -> None:
        ts = self.clock() if self.clock is not None else 0
        if not ts:
            ts = int(record.created * 1000)
        fields = tuple((k, redact(str(v))) for k, v in _fields(record).items())
        self._seq += 1
        self._lines.append(
            LogLine(
                self._seq,
                ts,
                record.levelname,
                record.name,
                redact(record.getMessage()),
                fields,
            )
        )

    def since(self, seq: int) -> list[LogLine]:
        """Lines numbered after `seq`, oldest first."""
        out: list[LogLine] = []
        for line in reversed(self._lines):
            if line.seq <= seq:
                break
            out.append(line)
        out.reverse()
        return out

    def attach(self) -> None:
        """Start receiving the app's log lines (INFO and above)."""
        logger = logging.getLogger(ROOT)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(self)

    def detach(self) -> None:
        logging.getLogger(ROOT).removeHandler(self)


class RedactingFormatter(logging.Formatter):
    """A plain text formatter that masks secrets (headless stdout)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return redact(text)


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC ISO), level, logger, msg and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        data: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _fields(record).items():
            data.setdefault(key, value if isinstance(value, (int, float, bool)) else str(value))
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(data, ensure_ascii=False))


class LogDirError(TradebotError):
    """The log folder cannot be created or written."""


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Rotating log files readable by the owner only (0600), the new ones included.

    A side job: when writing the file fails (a full disk, the folder gone), the failure is
    kept in `problem` (shown in the header) instead of a traceback on the terminal, and
    the file is opened again at the next line, so that logging resumes by itself.
    """

    problem = ""

    def _open(self) -> Any:
        private_dir(Path(self.baseFilename).parent)
        private_file(Path(self.baseFilename))
        return super()._open()

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if self.problem and self.stream is not None:
            self.problem = ""

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        self.problem = f"log file failing: {type(exc).__name__}: {exc}"[:80]
        stream, self.stream = self.stream, None  # reopened at the next line
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


def log_file_problem() -> str:
    """Why the log file cannot be written right now ("" when it can)."""
    for handler in _FILE_HANDLERS:
        if handler.problem:
            return handler.problem
    return ""


_FILE_HANDLERS: list[PrivateRotatingFileHandler] = []


class LoggingSetup:
    """Process-wide logging: file (through a background thread), optional stdout."""

    def __init__(self) -> None:
        self._listener: logging.handlers.QueueListener | None = None
        self._handlers: list[logging.Handler] = []
        self._propagate = True
        self._file_handler: PrivateRotatingFileHandler | None = None

    def start(self, log_dir: Path | None, *, stdout: bool = False) -> None:
        logger = logging.getLogger(ROOT)
        logger.setLevel(logging.INFO)
        # Nothing may reach the root logger's last-resort handler: it writes to stderr,
        # which is the terminal the app draws on.
        self._propagate = logger.propagate
        logger.propagate = False
        if log_dir is not None:
            try:
                private_dir(log_dir)
                # A lone surrogate in a line (from a chat message, say) is written as
                # \udcxx: the line is kept and the file stays UTF-8.
                file_handler = PrivateRotatingFileHandler(
                    log_dir / LOG_FILE,
                    maxBytes=5_000_000,
                    backupCount=5,
                    encoding="utf-8",
                    errors="backslashreplace",
                )
            except OSError as exc:
                raise LogDirError(
                    f"the log folder {log_dir} cannot be used: {exc.strerror or exc}"
                ) from None
            _FILE_HANDLERS.append(file_handler)
            self._file_handler = file_handler
            file_handler.setFormatter(JsonLineFormatter())
            q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
            queue_handler = logging.handlers.QueueHandler(q)
            self._listener = logging.handlers.QueueListener(q, file_handler)
            self._listener.start()
            self._add(logger, queue_handler)
        if stdout:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(
                RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
            )
            self._add(logger, handler)

    def _add(self, logger: logging.Logger, handler: logging.Handler) -> None:
        logger.addHandler(handler)
        self._handlers.append(handler)

    def stop(self) -> None:
        logger = logging.getLogger(ROOT)
        for handler in self._handlers:
            logger.removeHandler(handler)
        self._handlers.clear()
        logger.propagate = self._propagate
        if self._file_handler in _FILE_HANDLERS:
            _FILE_HANDLERS.remove(self._file_handler)
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
