"""The write-ahead journal, restart recovery, reconciliation and shutdown, on the fake exchange."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.engine.test_engine_exchange import SETTINGS, fast_clock
from tests.exchange.test_live_broker import make_broker, make_client
from tests.fake_exchange import FakeBinance
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.validate import from_dict
from tradebot_tui.core.book import Status
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import Pause
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.orders import Fill, OrderIntent, OrderKind, Purpose, Side
from tradebot_tui.engine.commands import AcceptBalance, ExitAll, PauseEntries
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.errors import describe_error
from tradebot_tui.engine.recovery import exits_asked
from tradebot_tui.exchange.ccxt_polling import CcxtPollingSource
from tradebot_tui.exchange.universe import UniverseRule
from tradebot_tui.journal.store import SCHEMA_VERSION, Journal, JournalError, JournalFull


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


def intent(cid: str = "tb-paper-BTCUSDT-1", qty: str = "0.00147") -> OrderIntent:
    return OrderIntent(
        cid, "BTC/USDT", Side.BUY, Purpose.ENTRY, D(qty), D("68000"), 1000, reserved=D("100.0959")
    )


# -- the file -------------------------------------------------------------------------------


def test_round_trip_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    journal = Journal.open(path, profile="paper")
    journal.record_intent(intent())
    journal.record_fill(
        Fill("tb-paper-BTCUSDT-1", D("0.00147"), D("68000"), D("0.09996"), 5),
        "BTC/USDT",
        D("0.00147"),
        D("99.96"),
    )
    journal.close()
    again = Journal.open(path, profile="paper")
    [order] = list(again.orders())
    assert order.intent == intent() and not order.terminal
    assert order.fills[0].fee == D("0.09996")
    assert again.positions() == {"BTC/USDT": (D("0.00147"), D("99.96"))}
    assert again.max_seq() == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_sale_by_an_order_list_leg_keeps_its_kind(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    journal = Journal.open(path, profile="paper")
    sale = OrderIntent(
        "tb-paper-BTCUSDT-2",
        "BTC/USDT",
        Side.SELL,
        Purpose.EXIT,
        D("0.00147"),
        D("69020.01"),
        2000,
        reason=ExitReason.TAKE_PROFIT,
        kind=OrderKind.LIMIT_MAKER,
    )
    journal.record_intent(sale)
    journal.close()
    [order] = list(Journal.open(path, profile="paper").orders())
    assert order.intent == sale and order.intent.kind is OrderKind.LIMIT_MAKER


def test_another_profile_is_refused(tmp_path: Path) -> None:
    Journal.open(tmp_path / "state.db", profile="paper").close()
    with pytest.raises(JournalError, match="belongs to profile 'paper'"):
        Journal.open(tmp_path / "state.db", profile="bot2")


def test_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Journal.open(path, profile="paper").close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="newer tradebot-tui"):
        Journal.open(path, profile="paper")
    assert path.read_bytes() == before


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_unreadable_journal_is_moved_aside_and_trading_waits(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "state.db"
    journal = Journal.open(path, profile="paper")
    for n in range(1, 200):
        journal.record_intent(intent(f"tb-paper-BTCUSDT-{n}"))
    journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.close()
    data = path.read_bytes()
    path.write_bytes(b"this is not sqlite" * 100 if damage == "garbage" else data[: len(data) // 3])
    with pytest.raises(JournalError, match=r"moved to .*unreadable"):
        Journal.open(path, profile="paper")
    assert not path.exists()
    [aside] = tmp_path.glob("state.db.unreadable-*[0-9]")
    assert aside.stat().st_size > 0  # kept for the user, not deleted
    with pytest.raises(JournalError, match="--new-journal"):
        Journal.open(path, profile="paper")  # the next start does not silently begin anew
    Journal.open(path, profile="paper", new_journal=True).close()


def test_full_disk_fails_the_write_and_nothing_is_half_written(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    journal = Journal.open(path, profile="paper")
    journal.db.execute("PRAGMA max_page_count=12")
    with pytest.raises(JournalFull):
        for n in range(1, 10_000):
            journal.record_intent(intent(f"tb-paper-BTCUSDT-{n:05d}" + "x" * 400))
    written = list(journal.orders())
    assert written and all(o.intent.client_id.endswith("x" * 400) for o in written)


def test_hand_edited_rows_are_named(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    journal = Journal.open(path, profile="paper")
    journal.record_intent(intent())
    journal.db.execute("UPDATE intents SET qty='lots' WHERE cid='tb-paper-BTCUSDT-1'")
    with pytest.raises(JournalError, match="intents row tb-paper-BTCUSDT-1: qty is not a number"):
        list(journal.orders())


def test_a_hand_edited_exit_ask_is_named(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "state.db", profile="paper")
    journal.db.execute(
        "INSERT INTO events (wall_ms, kind, symbol, detail) VALUES (0, 'exit asked', "
        "'BTC/USDT', 'tb-paper-BTCUSDT-1 soon')"
    )
    with pytest.raises(JournalError, match=r"events row 1: 'tb-paper-BTCUSDT-1 soon' is not"):
        exits_asked(journal)


# -- the engine with a journal ----------------------------------------------------------------


def live_engine(fake: FakeBinance, journal: Journal, settings: Settings = SETTINGS) -> Engine:
    client = make_client(fake)
    rule = UniverseRule("USDT", "static", ("BTC/USDT",))
    source = CcxtPollingSource(client, rule, interval_s=0.02, clock_ms=fast_clock())  # type: ignore[arg-type]
    broker = make_broker(client, poll_s=0.02, max_poll_s=0.05)
    return Engine(settings, source, broker, mode="LIVE", clock=lambda: 0, journal=journal)


def run_until(engine: Engine, cond: Any, *, then: Any = None, limit: float = 20) -> None:
    async def go() -> None:
        with trio.fail_after(limit):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                while not cond():
                    await trio.sleep(0.02)
                if then is not None:
                    await then()
                nursery.cancel_scope.cancel()

    trio.run(go)


def warm(engine: Engine) -> bool:
    book = engine.trader.books.get("BTC/USDT")
    return book is not None and book.anchor_price is not None


def buying_engine(
    fake: FakeBinance, path: Path, fill_delay_s: float
) -> tuple[Engine, Callable[[], bool]]:
    """A live engine on a new journal at `path`, stopping at once (no grace), whose buy
    fills `fill_delay_s` after it reaches the fake; and the condition for `run_until` that
    drops BTC into that buy and holds until the order is on the exchange."""
    fake.fill_mode = "delayed"
    fake.fill_delay_s = fill_delay_s
    settings = from_dict({**_raw(SETTINGS), "exchange": {"shutdown_grace_s": 0}}, "test")
    engine = live_engine(fake, Journal.open(path, profile="paper"), settings)

    def dropped() -> bool:
        if warm(engine):
            fake.set_price("BTCUSDT", "68000.00")
        return bool(fake.orders)

    return engine, dropped


def test_an_order_filled_while_down_is_applied_once_at_restart(
    fake: FakeBinance, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    engine, dropped = buying_engine(fake, path, 0.5)
    run_until(engine, dropped)  # quit the moment the order is on the exchange, unfilled
    [cid] = fake.orders
    assert fake.orders[cid].status == "NEW"
    [order] = list(Journal.open(path, profile="paper").orders())
    assert not order.terminal and order.fills == []
    trio.run(trio.sleep, 0.6)  # it fills while we are down
    restarted = live_engine(fake, Journal.open(path, profile="paper"))
    run_until(
        restarted,
        lambda: (
            restarted.trader.books.get("BTC/USDT") is not None
            and restarted.trader.books["BTC/USDT"].state is State.IN_POSITION
            and not restarted.following
        ),
    )
    assert fake.create_requests == [cid]  # never sent twice
    position = restarted.trader.books["BTC/USDT"].position
    assert position is not None and position.qty == fake.orders[cid].executed
    restarted.trader.ledger.check()
    assert restarted.trader.ids.next_seq == 2
    journal = Journal.open(path, profile="paper")
    assert journal.fill_count() == 1
    assert [o.terminal for o in journal.orders()] == [True]


def test_an_exit_asked_while_the_buy_was_open_is_still_sold_after_a_restart(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """Exit all while the buy is on the exchange unfilled, then the process stops; the buy
    fills while it is down. The restart restores the position with its exit due and sells
    it once, instead of keeping it."""
    path = tmp_path / "state.db"
    engine, dropped = buying_engine(fake, path, 0.8)

    async def exit_all() -> None:
        engine.submit(PauseEntries())
        engine.submit(ExitAll())
        for _ in range(100):  # bounded: 2 s; the ask is journaled with the buy's id
            if exits_asked(Journal.open(path, profile="paper")):
                return
            await trio.sleep(0.02)

    run_until(engine, dropped, then=exit_all)
    [cid] = fake.orders
    assert fake.orders[cid].status == "NEW"
    assert exits_asked(Journal.open(path, profile="paper")) == {cid: ExitReason.MANUAL}
    trio.run(trio.sleep, 0.9)  # it fills while we are down
    restarted = live_engine(fake, Journal.open(path, profile="paper"))

    def sold() -> bool:
        book = restarted.trader.books.get("BTC/USDT")
        return (
            book is not None
            and book.position is None
            and restarted.trader.open_orders() == []
            and any(o.side == "SELL" for o in fake.orders.values())
        )

    run_until(restarted, sold)
    assert fake.create_requests[0] == cid and len(fake.create_requests) == 2
    assert restarted.trader.gate.paused  # the pause came back too: no new entry
    restarted.trader.ledger.check()


def test_an_intent_that_never_reached_the_exchange_is_released(
    fake: FakeBinance, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    journal = Journal.open(path, profile="paper")
    journal.record_intent(intent())  # on disk; then the process died before sending
    engine = live_engine(fake, journal)
    run_until(engine, lambda: engine._ready.is_set() and not engine.following)
    ledger = engine.trader.ledger
    assert ledger.free == ledger.initial and ledger.reserved == 0
    assert fake.create_requests == []
    [order] = list(Journal.open(path, profile="paper").orders())
    assert order.status.value == "failed" and "shows no such order" in order.message


def test_an_open_order_of_an_earlier_journal_is_reported_never_adopted(
    fake: FakeBinance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another journal of the profile (moved aside, or on another machine) may be following
    it: a fresh journal reports it, and reconciliation holds the coin while it is open."""
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 3600
    fake.place("tb-paper-oldjrnl1-7")
    trio.run(trio.sleep, 0.3)  # the account's order list lags order entry
    journal = Journal.open(tmp_path / "state.db", profile="paper")
    engine = live_engine(fake, journal)
    held: list[dict[str, str]] = []
    notices: list[str] = []

    async def reconcile_twice() -> None:
        await engine.reconcile()
        held.append(await engine.reconcile())
        notices.extend(n.title for n in engine.snapshot().notices)

    run_until(engine, lambda: engine._ready.is_set(), then=reconcile_twice)
    assert "made by earlier journals: tb-paper-oldjrnl1-7 buy 0.001 BTC/USDT" in caplog.text
    assert held == [
        {"BTC/USDT": "open order tb-paper-oldjrnl1-7 on the exchange is not ours to follow"}
    ]
    assert engine.trader.open_orders() == [] and engine.trader.ids.next_seq == 1
    assert list(Journal.open(tmp_path / "state.db", profile="paper").orders()) == []
    assert "New journal" in notices


def test_reconciliation_holds_a_symbol_and_shows_both_figures(
    fake: FakeBinance, tmp_path: Path
) -> None:
    journal = Journal.open(tmp_path / "state.db", profile="paper")
    engine = live_engine(fake, journal)
    held: list[dict[str, str]] = []

    async def check() -> None:
        held.append(await engine.reconcile())
        fake.balances["BTC"] = D("0.5")  # someone bought BTC behind our back
        held.append(await engine.reconcile())  # seen once: could be an order in motion
        held.append(await engine.reconcile())  # seen twice: held
        held.append({r.symbol: r.status.value for r in engine.snapshot().watch})
        fake.balances["BTC"] = D("0")
        await engine.reconcile()
        held.append(await engine.reconcile())

    run_until(engine, lambda: warm(engine), then=check)
    assert held[0] == {} and held[1] == {}
    assert held[2] == {"BTC/USDT": "holding 0 BTC here, 0.5 on the exchange"}
    assert held[3] == {"BTC/USDT": "balance mismatch"}
    assert held[4] == {}


def test_a_quote_drift_holds_every_entry_shows_both_figures_and_can_be_accepted(
    fake: FakeBinance, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    engine = live_engine(fake, Journal.open(path, profile="paper"))
    seen: list[object] = []

    async def check() -> None:
        seen.append(await engine.reconcile())
        fake.balances["USDT"] -= D("250")  # withdrawn behind the bot's back
        await engine.reconcile()
        seen.append(
            engine.trader.gate.detail(Pause.QUOTE_DRIFT)
        )  # seen once: could be money in motion
        await engine.reconcile()
        snap = engine.snapshot()
        seen.extend(
            [
                engine.trader.gate.detail(Pause.QUOTE_DRIFT),
                snap.problems,
                {r.status for r in snap.watch},
            ]
        )
        await engine.control.apply(AcceptBalance())
        seen.append(engine.snapshot().notices[-1].message)
        await engine.reconcile()
        await engine.reconcile()
        seen.append(engine.trader.gate.detail(Pause.QUOTE_DRIFT))

    run_until(engine, lambda: warm(engine), then=check)
    drift = "USDT since the journal began: +0 here, -250 on the exchange"
    assert seen[0] == {} and seen[1] is None and seen[2] == drift
    assert seen[3] == (f"entries held: {drift}",)
    assert seen[4] == {Status.MISMATCH.value}
    assert seen[5] == (
        "The exchange's USDT balance accepted (-250 USDT deposited or withdrawn outside the bot)"
    )
    assert seen[6] is None
    # The new baseline is journaled: a restart agrees with the exchange at once.
    restarted = live_engine(fake, Journal.open(path, profile="paper"))
    after: list[object] = []

    async def again() -> None:
        await restarted.reconcile()
        await restarted.reconcile()
        after.append(restarted.trader.gate.detail(Pause.QUOTE_DRIFT))

    run_until(restarted, lambda: warm(restarted), then=again)
    assert after == [None]


@pytest.mark.parametrize("policy", ["leave_open", "cancel_entries"])
def test_shutdown_policy_for_open_entries(fake: FakeBinance, tmp_path: Path, policy: str) -> None:
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 60
    settings = from_dict(
        {**_raw(SETTINGS), "exchange": {"shutdown_policy": policy, "shutdown_grace_s": 1}},
        "test",
    )
    engine = live_engine(fake, Journal.open(tmp_path / "state.db", profile="paper"), settings)

    def dropped() -> bool:
        if warm(engine):
            fake.set_price("BTCUSDT", "68000.00")
        return bool(fake.orders)

    run_until(engine, dropped)
    [order] = fake.orders.values()
    assert order.status == ("NEW" if policy == "leave_open" else "CANCELED")
    assert engine.router.closing
    assert len(fake.create_requests) == 1  # nothing new once shutdown began


def _raw(settings: Settings) -> dict[str, dict[str, Any]]:
    from tradebot_tui.config.validate import to_dict

    return to_dict(settings)


def test_a_hand_edited_position_stops_the_engine_before_it_trades(
    fake: FakeBinance, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    journal = Journal.open(path, profile="paper")
    engine = live_engine(fake, journal)

    def bought() -> bool:
        if warm(engine):
            fake.set_price("BTCUSDT", "68000.00")
        book = engine.trader.books.get("BTC/USDT")
        return book is not None and book.state is State.IN_POSITION and not engine.following

    run_until(engine, bought)
    db = sqlite3.connect(path)
    db.execute("UPDATE positions SET qty='5' WHERE symbol='BTC/USDT'")
    db.commit()
    db.close()
    restarted = live_engine(fake, Journal.open(path, profile="paper"))
    with pytest.raises(BaseException) as info:
        run_until(restarted, lambda: False, limit=10)
    assert "positions says BTC/USDT 5" in describe_error(info.value)
    assert len(fake.orders) == 1  # nothing traded after the refusal


def test_full_disk_sends_nothing_and_pauses_entries(fake: FakeBinance, tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "state.db", profile="paper")
    engine = live_engine(fake, journal)
    full: list[bool] = []

    def dropped() -> bool:
        if warm(engine) and not full:
            # SQLite says the disk is full (as the file test above makes it say for real).
            journal.db = _FullDisk(journal.db)  # type: ignore[assignment]
            full.append(True)
            fake.set_price("BTCUSDT", "68000.00")
        return engine.trader.gate.paused

    run_until(engine, dropped)
    assert fake.create_requests == []  # not on disk, so not sent
    ledger = engine.trader.ledger
    assert ledger.reserved == 0 and ledger.free == ledger.initial


def test_entries_resume_once_the_journal_can_be_written_again(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """Space comes back: a probe write goes through, entries resume, and a buy happens."""
    journal = Journal.open(tmp_path / "state.db", profile="paper")
    engine = live_engine(fake, journal)
    assert engine.journal_writer is not None
    engine.journal_writer.probe_s = 0.1
    real = journal.db
    seen: list[object] = []

    async def space_returns() -> None:
        seen.append(engine.snapshot().problems)
        journal.db = real  # the disk has room again
        with trio.fail_after(10):
            while engine.trader.gate.paused or not fake.create_requests:
                await trio.sleep(0.02)
        seen.append(engine.snapshot().problems)

    def dropped() -> bool:
        if warm(engine) and not seen and not engine.trader.gate.paused:
            journal.db = _FullDisk(real)  # type: ignore[assignment]
            fake.set_price("BTCUSDT", "68000.00")
        return engine.trader.gate.paused

    run_until(engine, dropped, then=space_returns)
    assert seen == [("journal cannot be written",), ()]
    assert len(fake.create_requests) == 1  # the buy went out once the journal had it
    [order] = list(Journal.open(tmp_path / "state.db", profile="paper").orders())
    assert order.intent.client_id == fake.create_requests[0]


def test_a_pause_by_the_trader_is_not_lifted_when_the_journal_comes_back(
    fake: FakeBinance, tmp_path: Path
) -> None:
    from tradebot_tui.engine.commands import PauseEntries, ToggleSymbol

    journal = Journal.open(tmp_path / "state.db", profile="paper")
    engine = live_engine(fake, journal)
    writer = engine.journal_writer
    assert writer is not None
    writer.probe_s = 0.1

    async def check() -> None:
        engine.submit(PauseEntries())  # the trader pauses first
        await trio.sleep(0.1)
        real = journal.db
        journal.db = _FullDisk(real)  # type: ignore[assignment]
        engine.submit(ToggleSymbol("ETH/USDT"))  # a journaled command: its write fails
        with trio.fail_after(5):
            while not writer.failing:
                await trio.sleep(0.02)
        journal.db = real
        with trio.fail_after(5):
            while writer.failing:
                await trio.sleep(0.02)  # a probe went through
        assert engine.trader.gate.paused  # still the trader's own pause

    run_until(engine, lambda: warm(engine), then=check)


class _FullDisk:
    """A connection on a full disk: every write fails as SQLite reports it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_a_version_1_journal_is_migrated_without_losing_a_row(tmp_path: Path) -> None:
    from tradebot_tui.journal.store import MIGRATIONS

    path = tmp_path / "state.db"
    db = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](db)  # the schema as version 1 wrote it
    db.execute("PRAGMA user_version=1")
    db.execute("INSERT INTO meta VALUES ('profile', 'paper')")
    db.execute(
        "INSERT INTO intents (cid, seq, symbol, side, purpose, qty, price, ts_ms, reserved, "
        "status) VALUES ('tb-paper-BTCUSDT-1', 1, 'BTC/USDT', 'buy', 'entry', '0.001', "
        "'70000', 5, '70.07', 'filled')"
    )
    db.execute(
        "INSERT INTO fills (cid, qty, price, fee, ts_ms) VALUES "
        "('tb-paper-BTCUSDT-1', '0.001', '70000', '0.07', 6)"
    )
    db.close()
    journal = Journal.open(path, profile="paper")
    assert journal.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    assert journal.order_lists() == []  # before version 6: no list ever rested
    [order] = list(journal.orders())
    assert order.fills[0].commission_qty == 0 and order.fills[0].qty == D("0.001")
    assert order.fills[0].fee_elsewhere == 0  # before version 4: every fee left the quote
    assert order.intent.kind is OrderKind.MARKET  # before version 5: every order was
    assert order.journaled_ms == 5  # before version 3: the tick's time stands in
    assert re.fullmatch(r"[a-z0-9]{8}", journal.identity)  # an identity from now on
