"""Paper state survives a restart like live state does: a journal per mode and profile.

Positions, the ledger, the closed trades, the cooldowns and the pauses (all entries, and
coin by coin) come back; the simulated market goes on from its last prices; and
`--new-journal` starts fresh after saying what it discards.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel

from tests.helpers import START_MS, sim_market
from tests.terminal.ptyterm import tradebot_command
from tests.test_headless import read_until
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.gate import CoinHold
from tradebot_tui.core.lifecycle import State
from tradebot_tui.engine.commands import PauseEntries, ToggleSymbol
from tradebot_tui.engine.engine import Engine
from tradebot_tui.exchange.paper import PaperBroker
from tradebot_tui.journal.schema import LAST_PRICES
from tradebot_tui.journal.store import Journal

STEPS = 900


def engine(settings: Settings, journal: Journal, steps: int) -> Engine:
    market = sim_market(settings, steps=steps)
    prices = journal.meta(LAST_PRICES)
    if prices:
        market.resume_from(json.loads(prices))
    return Engine(
        settings,
        market,
        PaperBroker(settings.exchange.fee_rate),
        clock=lambda: START_MS,
        journal=journal,
    )


def state(e: Engine) -> dict[str, Any]:
    t = e.trader
    ledger = t.ledger
    return {
        "ledger": (
            ledger.free,
            ledger.reserved,
            ledger.in_positions,
            ledger.realized_pnl,
            ledger.fees_paid,
        ),
        "positions": {s: t.holding(s) for s, b in t.books.items() if b.position is not None},
        "states": {s: b.state for s, b in t.books.items() if b.state is not State.IDLE},
        "exits": {s: b.last_exit_ts for s, b in t.books.items() if b.last_exit_ts},
        "trades": [tr.pnl for tr in e.views.trades],
        "paused": (t.gate.paused, sorted(t.gate.held(CoinHold.OWNER))),
        "next_seq": t.ids.next_seq,
    }


def test_positions_ledger_trades_cooldowns_and_pauses_survive_a_restart(
    tmp_path: Path,
) -> None:
    settings = Settings()
    path = tmp_path / "paper-paper.db"
    first = engine(settings, Journal.open(path, profile="paper"), STEPS)
    before: dict[str, Any] = {}

    async def run_first() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(first.run)
                while first.ticks < 100 or first.trades < 2:
                    await trio.sleep(0.01)
                first.submit(ToggleSymbol("BTC/USDT"))
                first.submit(PauseEntries())
                while not first.trader.gate.paused:
                    await trio.sleep(0.01)
                # Stop between two orders: an order cut off between its journal write and
                # its fill is a restart's to settle ("not filled before the restart"), a
                # different test. No checkpoint between the check and the cancel.
                while first.trader.open_orders() or first.following:
                    await trio.lowlevel.checkpoint()
                nursery.cancel_scope.cancel()
        before.update(state(first))
        before["last"] = {s: b.last_price for s, b in first.trader.books.items()}

    trio.run(run_first)
    assert before["positions"] and before["trades"]
    second = engine(settings, Journal.open(path, profile="paper"), 0)
    after: dict[str, Any] = {}

    async def run_second() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(second.run)
                after.update(state(second))  # before any tick: what the journal restored
                books = second.trader.books
                while not all(s in books and books[s].last_ts for s in before["last"]):
                    await trio.sleep(0.01)  # the market's history arrives
                after["last"] = {s: b.last_price for s, b in books.items()}
                nursery.cancel_scope.cancel()

    trio.run(run_second)
    for key in ("ledger", "positions", "states", "exits", "trades", "paused", "next_seq"):
        assert after[key] == before[key], key
    assert after["paused"] == (True, ["BTC/USDT"])
    # The market goes on from where it was, not from its starting levels.
    for symbol, price in before["last"].items():
        assert abs(after["last"][symbol] / price - 1) < 0.05, symbol


def test_new_journal_says_what_it_discards_and_starts_fresh(
    tmp_path: Path, isolated_home: Path
) -> None:
    settings = Settings()
    path = isolated_home / "data" / "tradebot-tui" / "journals" / "paper-paper.db"
    path.parent.mkdir(parents=True)
    first = engine(settings, Journal.open(path, profile="paper"), STEPS)

    async def run_first() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(first.run)
                while first.trades < 1:
                    await trio.sleep(0.01)
                nursery.cancel_scope.cancel()

    trio.run(run_first)
    config = tmp_path / "fast.toml"
    config.write_text("[market]\ntick_interval_ms = 50\n")
    proc = subprocess.Popen(
        [*tradebot_command(), "--headless", "--new-journal", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        out = read_until(proc, b"engine started", 20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    assert "--new-journal: the paper journal (" in text and "orders" in text
    assert "closed-trade PnL" in text and "starting fresh" in text
    assert list(path.parent.glob("paper-paper.db.discarded-*"))
    fresh = Journal.open(path, profile="paper")
    assert fresh.identity != first.trader.ids.prefix.split("-")[2]


def test_an_older_live_journal_moves_to_its_new_place(isolated_home: Path) -> None:

    from tradebot_tui.config.locations import locate
    from tradebot_tui.wiring.journals import open_journal

    locations = locate()
    old = Journal.open(locations.legacy_journal, profile="paper")
    identity = old.identity
    old.close()
    moved = open_journal(Settings(), locations, live=True)
    assert moved.path == locations.journal("live", "paper") and moved.identity == identity
    assert not locations.legacy_journal.exists()
