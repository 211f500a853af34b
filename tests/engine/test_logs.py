"""Logging: bounded ring, JSON lines on disk, secrets masked everywhere."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tradebot_tui.config.credentials import Secret
from tradebot_tui.engine.logs import LOG_FILE, MASK, LoggingSetup, LogRing

log = logging.getLogger("tradebot.test")


def test_ring_is_bounded_and_numbered() -> None:
    ring = LogRing(capacity=5)
    ring.clock = lambda: 1234
    ring.attach()
    try:
        for i in range(12):
            log.info("line %d", i, extra={"fields": {"n": i}})
    finally:
        ring.detach()
    assert ring.last_seq == 12
    lines = ring.since(0)
    assert [line.message for line in lines] == [f"line {i}" for i in range(7, 12)]
    assert lines[-1].ts_ms == 1234 and lines[-1].fields == (("n", "11"),)
    assert [line.seq for line in ring.since(10)] == [11, 12]
    assert ring.since(12) == []


def test_file_log_is_json_lines_and_secrets_are_masked(tmp_path: Path) -> None:
    secret = Secret("sk-live-0123456789abcdef")
    setup = LoggingSetup()
    ring = LogRing()
    setup.start(tmp_path)
    ring.attach()
    try:
        log.warning("signing with %s", secret.reveal(), extra={"fields": {"key": secret.reveal()}})
    finally:
        ring.detach()
        setup.stop()
    text = (tmp_path / LOG_FILE).read_text()
    assert secret.reveal() not in text
    record = json.loads(text.splitlines()[-1])
    assert record["level"] == "WARNING" and record["msg"] == f"signing with {MASK}"
    assert record["key"] == MASK
    line = ring.since(0)[-1]
    assert secret.reveal() not in line.message + repr(line.fields)
