"""The engine as a trio guest of an asyncio loop (the way the app runs it)."""

from __future__ import annotations

import asyncio

import outcome
import trio

from tests.helpers import sim_engine
from tradebot_tui.engine.commands import PauseEntries
from tradebot_tui.engine.errors import InjectedCrash, leaf_errors
from tradebot_tui.engine.host import GuestRun
from tradebot_tui.engine.snapshot import EngineSnapshot


async def wait_for(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def test_guest_run_publishes_obeys_and_stops() -> None:
    snaps: list[EngineSnapshot] = []
    done: list[outcome.Outcome[None]] = []

    async def main() -> None:
        engine = sim_engine(steps=10**6, interval_ms=250, realtime=True, publish=snaps.append)
        run = GuestRun(engine, on_done=done.append)
        run.start()
        await wait_for(lambda: bool(snaps) and snaps[-1].ticks > 0)
        assert run.submit(PauseEntries())
        await wait_for(lambda: engine.trader.gate.paused)
        result = await asyncio.wait_for(run.stop(), 5)
        assert isinstance(result, outcome.Value)
        assert run.finished and not run.submit(PauseEntries())

    asyncio.run(main())
    assert len(done) == 1


def test_stop_right_after_start() -> None:
    async def main() -> None:
        run = GuestRun(sim_engine(steps=10**6, realtime=True))
        run.start()
        result = await asyncio.wait_for(run.stop(), 5)
        assert isinstance(result, outcome.Value)

    asyncio.run(main())


def test_crash_reaches_the_done_callback() -> None:
    done: list[outcome.Outcome[None]] = []

    async def main() -> None:
        run = GuestRun(
            sim_engine(steps=10**6, realtime=True, crash_after_s=0.05), on_done=done.append
        )
        run.start()
        await wait_for(lambda: run.finished)

    asyncio.run(main())
    assert isinstance(done[0], outcome.Error)
    assert [type(e) for e in leaf_errors(done[0].error)] == [InjectedCrash]


def test_thread_is_clean_for_a_later_trio_run() -> None:
    async def main() -> None:
        run = GuestRun(sim_engine(steps=10, realtime=False))
        run.start()
        await asyncio.wait_for(run.stop(), 5)

    asyncio.run(main())
    assert trio.run(trio.sleep, 0) is None
