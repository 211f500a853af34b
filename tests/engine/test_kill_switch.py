"""The kill switch: below its floor, everything is sold, entries stop, the owner is told;
it stays tripped across a restart and resuming entries re-arms it from there."""

from __future__ import annotations

import dataclasses
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from tests.engine.test_paper_journal import engine as paper_engine
from tradebot_tui.config.settings import ExitSettings, RiskSettings, Settings
from tradebot_tui.engine import kill_switch
from tradebot_tui.engine.commands import ResumeEntries
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.recovery import PAUSES
from tradebot_tui.journal.store import Journal

SETTINGS = dataclasses.replace(Settings(), risk=RiskSettings(kill_switch_pct=0.3))


@pytest.fixture(autouse=True)
def watch_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulated market runs as fast as it can here: a watch once a wall second may
    look only after the dip through the floor is over (on a fast machine, it did). Every
    10 ms it sees each dip that lasts more than a few batches, whatever the machine."""
    monkeypatch.setattr(kill_switch, "CHECK_EVERY_S", 0.01)


def engine(journal: Journal, steps: int) -> Engine:
    return paper_engine(SETTINGS, journal, steps)


def test_the_kill_switch_sells_everything_stops_entries_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "paper-paper.db"
    first = engine(Journal.open(path, profile="paper"), 20_000)
    seen: dict[str, object] = {}

    async def run_first() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(first.run)
                seen["armed"] = first.snapshot().away
                while not first.kill_switch.tripped:
                    await trio.sleep(0.01)
                # Done when no order is open and no exit is due (a buy open when the
                # switch tripped is sold once it ends).
                while first.trader.open_orders() or first.following or first.trader.due_exits():
                    await trio.lowlevel.checkpoint()
                snap = first.snapshot()
                seen["away"] = snap.away
                seen["notices"] = [n.title for n in snap.notices]
                titles = [n.title for n in snap.notices]
                tripped_at = titles.index("Kill switch: selling everything, entries stopped")
                seen["sales"] = [
                    (n.title, n.answer)
                    for n in snap.notices[tripped_at:]
                    if n.title.startswith("Sold ")
                ]
                seen["positions"] = [b.symbol for b in first.trader.books.values() if b.position]
                buys = first.router.fill_count
                await trio.sleep(0.5)  # the market goes on: no new entry
                seen["new_fills"] = first.router.fill_count - buys
                nursery.cancel_scope.cancel()

    trio.run(run_first)
    assert seen["armed"] == "kill switch at 997.00"
    assert seen["away"] == "KILL SWITCH TRIPPED"
    assert "Kill switch: selling everything, entries stopped" in seen["notices"]  # type: ignore[operator]
    # Booked as the kill switch's (a sale under way already ends as it began), and news
    # for the owner's phone, not the answer to a key.
    sales: list[tuple[str, bool]] = seen["sales"]  # type: ignore[assignment]
    assert any(title.endswith(": kill switch") for title, _ in sales)
    assert not any(answer for _, answer in sales)
    assert seen["positions"] == [] and seen["new_fills"] == 0
    assert (
        first.trader.gate.paused and "fell to the kill switch's 997.00" in first.kill_switch.tripped
    )
    # It tripped at or below its floor. What the sales then realise depends on the prices
    # of the ticks they are filled at, which the market moves on meanwhile (a buy open at
    # the trip is sold only once it fills): the equity after them may sit on either side.
    tripped = re.search(r"equity (\d+\.\d+) USDT fell", first.kill_switch.tripped)
    assert tripped is not None and Decimal(tripped.group(1)) <= Decimal("997.00")
    equity = first.trader.equity()
    pauses = json.loads(Journal.open(path, profile="paper").meta(PAUSES) or "{}")
    assert pauses["kill"]["tripped"] == first.kill_switch.tripped

    second = engine(Journal.open(path, profile="paper"), 2_000)

    async def run_second() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(second.run)
                seen["restored"] = (second.kill_switch.tripped, second.trader.gate.paused)
                second.submit(ResumeEntries())
                while second.trader.gate.paused:
                    await trio.sleep(0.01)
                seen["rearmed"] = second.snapshot().away
                nursery.cancel_scope.cancel()

    trio.run(run_second)
    assert seen["restored"] == (first.kill_switch.tripped, True)
    assert second.kill_switch.tripped == "" and second.trader.kill_switch.reference == equity
    floor = equity * (1 - Decimal("0.003"))
    assert seen["rearmed"] == f"kill switch at {floor:.2f}"


def test_what_is_still_held_when_the_kill_switch_had_tripped_is_sold_after_a_restart(
    tmp_path: Path,
) -> None:
    """A crash after the trip, before a sale went (a buy open at the trip is sold only once
    it fills): the restart finds the switch tripped and a coin held, and sells it."""
    path = tmp_path / "paper-paper.db"
    # Exits far away and the switch off: only the restart can sell what is held.
    held_on = dataclasses.replace(
        Settings(),
        exits=ExitSettings(
            take_profit_pct=500,
            stop_loss_pct=90,
            trailing_activation_pct=500,
            max_hold_s=365 * 86400,
        ),
    )
    first = paper_engine(held_on, Journal.open(path, profile="paper"), 20_000)

    async def run_first() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(first.run)
                while not any(
                    b.position is not None and not b.buying for b in first.trader.books.values()
                ):
                    await trio.sleep(0.01)
                nursery.cancel_scope.cancel()

    trio.run(run_first)
    held = sorted(s for s, b in first.trader.books.items() if b.position is not None)
    assert held
    journal = Journal.open(path, profile="paper")
    reference = first.trader.equity()
    journal.set_meta(
        PAUSES,
        json.dumps(
            {"all": True, "symbols": [], "kill": {"reference": str(reference), "tripped": "t"}}
        ),
    )
    journal.close()

    second = paper_engine(held_on, Journal.open(path, profile="paper"), 2_000)
    seen: dict[str, object] = {}

    async def run_second() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(second.run)
                seen["restored"] = sorted(
                    s for s, b in second.trader.books.items() if b.position is not None
                )
                for _ in range(6000):  # bounded: 60 s; each sale goes at its coin's next tick
                    if not any(b.position for b in second.trader.books.values()):
                        break
                    await trio.sleep(0.01)
                seen["fills"] = second.router.fill_count
                await trio.sleep(0.5)  # the market goes on: the switch still stops entries
                seen["new_fills"] = second.router.fill_count - seen["fills"]  # type: ignore[operator]
                nursery.cancel_scope.cancel()

    trio.run(run_second)
    assert seen["restored"] == held
    assert [s for s, b in second.trader.books.items() if b.position] == []
    # Entries stay stopped: every fill of the second run is a sale of what was held.
    assert second.kill_switch.tripped == "t" and second.trader.gate.paused
    assert second.router.fill_count >= len(held) and seen["new_fills"] == 0
