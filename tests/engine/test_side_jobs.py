"""Side jobs never stop trading: a failing recorder or log file is reported and retried,
an unusable log folder is one line and exit status 2, a damaged replay input too."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from tests.helpers import START_MS, sim_market
from tradebot_tui.cli import main
from tradebot_tui.config.settings import Settings
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.logs import LoggingSetup, log_file_problem
from tradebot_tui.exchange.paper import PaperBroker


def test_a_failing_recorder_is_reported_and_retried_while_trading_goes_on(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "recordings"
    folder.write_text("a file where the recordings folder should be")
    settings = Settings()
    # A market that cannot run out while the test waits, however slow the machine, paced
    # (a step each 10 ms): run flat out, it kept the interpreter so busy under a loaded
    # suite that the recorder's thread took over a minute to write what had waited.
    engine = Engine(
        settings,
        sim_market(settings, steps=100_000_000, interval_ms=10, realtime=True),
        PaperBroker(settings.exchange.fee_rate),
        clock=lambda: START_MS,
        recordings=folder,
    )
    seen: list[tuple[str, ...]] = []

    async def main_() -> None:
        # Waits for what must happen, each bounded; no step depends on how fast it comes.
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                while not engine.snapshot().problems:
                    await trio.sleep(0.05)
                seen.append(engine.snapshot().problems)
                ticks = engine.ticks
                while engine.ticks < ticks + 1000:  # trading goes on
                    await trio.sleep(0.05)
                folder.unlink()  # the path is free again: the next try records
                while engine.recorder is None or not engine.recorder.recorded:
                    await trio.sleep(0.05)
                seen.append(engine.snapshot().problems)
                nursery.cancel_scope.cancel()

    trio.run(main_)
    assert seen[0][0].startswith("recording failing:")
    assert seen[1] == ()
    assert list(folder.glob("ticks-*.jsonl.gz"))


def test_a_failing_log_file_is_reported_and_logging_resumes(tmp_path: Path) -> None:
    setup = LoggingSetup()
    setup.start(tmp_path / "logs")
    try:
        log = logging.getLogger("tradebot.test")
        log.info("first line")
        handler = setup._file_handler
        assert handler is not None
        setup._listener.stop()  # type: ignore[union-attr]  # write lines here, one by one
        assert handler.stream is not None
        handler.stream.close()  # the disk went away under the open file
        handler.handle(logging.LogRecord("tradebot", logging.INFO, "", 0, "lost", (), None))
        assert log_file_problem().startswith("log file failing:")
        handler.handle(logging.LogRecord("tradebot", logging.INFO, "", 0, "back", (), None))
        assert log_file_problem() == ""
        assert "back" in (tmp_path / "logs" / "tradebot.jsonl").read_text()
        setup._listener = None
    finally:
        setup.stop()


def test_an_unusable_log_folder_is_one_line_and_exit_2(
    isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = isolated_home / "state"
    state.mkdir(parents=True)
    (state / "tradebot-tui").write_text("a file where the log folder's parent should be")
    assert main(["--headless"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the log folder" in err[0] and "cannot be used" in err[0]


def test_a_damaged_zip_to_replay_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "BTCUSDT-1m-2025-04.zip"
    bad.write_bytes(b"PK\x03\x04 damaged on the way")
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable zip file" in err[0]


def test_ticks_added_while_a_batch_is_written_are_recorded_too() -> None:
    """The writer runs in a thread; the engine goes on adding ticks meanwhile (a replay of
    the recording once counted fewer ticks than the engine had)."""
    from tradebot_tui.core.ticks import Tick
    from tradebot_tui.engine.recorder import TickRecorder

    recorder = TickRecorder(Path("unused"))
    written: list[Tick] = []

    class SlowFile:
        def write(self, ticks: list[Tick]) -> None:
            for tick in list(ticks):  # a copy, as a writer iterating slowly would see it
                written.append(tick)
            # The engine adds ticks after the writer has gone through the batch.
            trio.from_thread.run_sync(recorder.add, [Tick(START_MS + 99, "BTC/USDT", 2.0)])

    async def go() -> None:
        recorder.add([Tick(START_MS + i, "BTC/USDT", 1.0) for i in range(3)])
        await recorder._write(SlowFile())
        await recorder._write(SlowFile())

    trio.run(go)
    assert [t.ts_ms - START_MS for t in written] == [0, 1, 2, 99]
    assert recorder.recorded == 4 and len(recorder._buffer) == 1  # the second write's add
