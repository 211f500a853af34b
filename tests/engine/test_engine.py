"""The engine under plain trio: services, control commands, snapshots, crashes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from tests.helpers import expected_live_ticks, sim_engine
from tradebot_tui.config.settings import Settings
from tradebot_tui.engine.commands import ExitAll, PauseEntries, ResumeEntries, TogglePause
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.errors import InjectedCrash
from tradebot_tui.engine.host import run_headless
from tradebot_tui.engine.snapshot import EngineSnapshot, RunState

STEPS = 900  # fifteen simulated minutes of 1 s steps


async def wait_until(
    cond: Callable[[], bool], timeout: float = 20, what: str = "condition"
) -> None:
    with trio.fail_after(timeout):
        while not cond():
            await trio.sleep(0.01)


def run_engine(engine: Engine, body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            await body()
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_processes_every_tick_trades_and_keeps_the_ledger_exact() -> None:
    snaps: list[EngineSnapshot] = []
    settings = Settings()
    engine = sim_engine(settings, steps=STEPS, publish=snaps.append)
    total = expected_live_ticks(settings, steps=STEPS)

    async def body() -> None:
        await wait_until(lambda: bool(snaps) and snaps[-1].ticks == total)

    run_engine(engine, body)
    last = snaps[-1]
    engine.trader.ledger.check()
    assert last.state is RunState.RUNNING
    assert len(last.watch) == 20
    assert last.orders, "fifteen minutes of the default market should trade"
    assert len(last.positions) == last.open_positions
    assert last.equity == last.free + last.reserved + sum(p.value for p in last.positions)
    buys = [o for o in last.orders if o.side == "buy"]
    assert all(o.status == "filled" for o in last.orders)
    assert len(buys) == len(last.positions) + last.trades
    assert all(snaps[i].seq < snaps[i + 1].seq for i in range(len(snaps) - 1))


def test_pause_stops_entries_but_not_exits() -> None:
    snaps: list[EngineSnapshot] = []
    settings = Settings()
    engine = sim_engine(settings, steps=STEPS, publish=snaps.append)
    total = expected_live_ticks(settings, steps=STEPS)

    async def body() -> None:
        engine.submit(PauseEntries())
        await wait_until(lambda: bool(snaps) and snaps[-1].ticks == total)

    run_engine(engine, body)
    assert snaps[-1].state is RunState.PAUSED
    assert snaps[-1].orders == ()
    assert any(r.status.value == "paused" for r in snaps[-1].watch)


def test_toggle_pause_and_resume() -> None:
    engine = sim_engine(steps=10)

    async def body() -> None:
        engine.submit(TogglePause())
        await wait_until(lambda: engine.trader.gate.paused)
        engine.submit(TogglePause())
        await wait_until(lambda: not engine.trader.gate.paused)
        engine.submit(PauseEntries())
        engine.submit(ResumeEntries())
        await wait_until(lambda: engine.state is RunState.RUNNING and not engine.trader.gate.paused)

    run_engine(engine, body)


def test_exit_all_closes_every_position() -> None:
    snaps: list[EngineSnapshot] = []
    settings = Settings()
    engine = sim_engine(settings, steps=STEPS, publish=snaps.append)
    total = expected_live_ticks(settings, steps=STEPS)

    async def body() -> None:
        await wait_until(lambda: bool(snaps) and snaps[-1].ticks == total)
        held = len(snaps[-1].positions)
        assert held > 0, "this seed holds positions after fifteen minutes"
        trades_before = snaps[-1].trades
        engine.submit(ExitAll())
        await wait_until(lambda: not snaps[-1].positions)
        assert snaps[-1].trades == trades_before + held
        assert sum(o.reason.startswith("manual") for o in snaps[-1].orders) == held

    run_engine(engine, body)
    engine.trader.ledger.check()
    assert engine.trader.ledger.in_positions == 0


def test_snapshots_are_published_at_a_bounded_rate() -> None:
    published: list[EngineSnapshot] = []
    engine = sim_engine(steps=240, interval_ms=250, realtime=True, publish=published.append)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            await trio.sleep(60)
            nursery.cancel_scope.cancel()

    # Virtual time: one simulated minute runs at once and every sleep is exact.
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert 10 <= len(published) <= 60 * engine.settings.ui.refresh_hz + 1


def test_injected_crash_propagates_and_is_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sim_engine(steps=10**6, crash_after_s=0.05)
    monkeypatch.setattr(logging.getLogger("tradebot"), "propagate", True)

    async def main() -> None:
        await engine.run()

    with (
        caplog.at_level(logging.CRITICAL, logger="tradebot"),
        pytest.raises(BaseExceptionGroup) as info,
    ):
        trio.run(main)
    assert info.group_contains(InjectedCrash)
    assert "engine failed: InjectedCrash" in caplog.text


def test_run_headless_stops_when_asked() -> None:
    engine = sim_engine(steps=50)

    async def until() -> None:
        await trio.sleep(0.2)

    run_headless(engine, until=until)
    assert engine.ticks > 0
