"""Who may lift a pause: the journal's comings and goings never lift the owner's pause.

Against the real classes (the engine's side jobs for the journal, its controller for the
owner's commands): the journal fails and entries pause; the owner resumes; the journal
comes back; the owner pauses; the journal fails again and comes back. Before the entry
gate, that last return resumed entries the owner had paused.
"""

from __future__ import annotations

import trio

from tests.helpers import sim_engine
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.gate import Pause
from tradebot_tui.engine.commands import PauseEntries, ResumeEntries, TogglePause


def test_the_owners_pause_survives_the_journal_failing_and_coming_back() -> None:
    engine = sim_engine(Settings(), steps=10)
    gate = engine.trader.gate
    side_jobs, control = engine.side_jobs, engine.control
    seen: list[tuple[str, bool, set[Pause]]] = []

    def look(step: str) -> None:
        seen.append((step, gate.paused, set(gate.reasons)))

    async def sequence() -> None:
        side_jobs.journal_down("disk full")
        look("journal fails")
        await control.apply(ResumeEntries())
        look("owner resumes")
        side_jobs.journal_up()
        look("journal back")
        await control.apply(PauseEntries())
        look("owner pauses")
        side_jobs.journal_down("disk full again")
        look("journal fails again")
        side_jobs.journal_up()
        look("journal back again")

    trio.run(sequence)
    assert seen == [
        ("journal fails", True, {Pause.JOURNAL}),
        # The owner cannot resume what the journal paused: an order must be on disk
        # before it is sent. They are told why entries stay paused.
        ("owner resumes", True, {Pause.JOURNAL}),
        ("journal back", False, set()),
        ("owner pauses", True, {Pause.OWNER}),
        ("journal fails again", True, {Pause.OWNER, Pause.JOURNAL}),
        ("journal back again", True, {Pause.OWNER}),
    ]
    notices = [n.message for n in engine.views.notices]
    assert "Paused by: journal; they resume once that is over." in notices
    assert "It can be written again; entries stay paused (owner)." in notices


def test_space_resumes_only_what_the_owner_paused_and_says_what_still_holds() -> None:
    engine = sim_engine(Settings(), steps=10)
    gate = engine.trader.gate

    async def sequence() -> None:
        await engine.control.apply(TogglePause())  # running: pauses
        assert dict(gate.reasons) == {Pause.OWNER: ""}
        engine.side_jobs.journal_down("disk full")
        await engine.control.apply(TogglePause())  # paused: resumes the owner's part
        assert dict(gate.reasons) == {Pause.JOURNAL: "disk full"}

    trio.run(sequence)
