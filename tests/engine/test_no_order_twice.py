"""No order is ever sent twice: the three ways it happened before, each reproduced.

1. A journal moved aside, then `--new-journal`: ids started again at 1, Binance took the
   reused id of a filled order as a new order, and the new journal booked phantom fills.
2. A journal that lost its WAL after kill -9 rolled back silently and reused ids.
3. A buy answered with a 502 whose order Binance's query did not show yet was sent again.

Each runs the whole engine against the fake Binance, which accepts a reused id once its
order is over, executes before answering 5xx, and lags its order query behind entry.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections import Counter
from pathlib import Path

import pytest
import trio

from tests.engine.test_journal import live_engine, run_until, warm
from tests.fake_exchange import FakeBinance
from tradebot_tui.cli import main
from tradebot_tui.core.book import Status
from tradebot_tui.core.gate import CoinHold
from tradebot_tui.core.identity import client_id_prefix
from tradebot_tui.core.lifecycle import State
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.recovery import JournalLostData
from tradebot_tui.journal.store import Journal, JournalError


@pytest.fixture
def fake() -> FakeBinance:
    with FakeBinance() as exchange:
        yield exchange  # type: ignore[misc]


def round_trip(engine: Engine, fake: FakeBinance) -> None:
    """Warm up, drop 2.9 % (a buy), rise past take-profit (a sell); until it is closed."""

    def traded() -> bool:
        book = engine.trader.books.get("BTC/USDT")
        if warm(engine) and book is not None and book.state is State.IDLE and not engine.trades:
            fake.set_price("BTCUSDT", "68000.00")
        if book is not None and book.state is State.IN_POSITION:
            fake.set_price("BTCUSDT", "69100.00")
        return engine.trades >= 1 and not engine.following

    run_until(engine, traded, limit=30)
    fake.set_price("BTCUSDT", "70000.00")


def ids_sent_once(fake: FakeBinance) -> None:
    sent = Counter(fake.create_requests)
    assert [cid for cid, n in sent.items() if n > 1] == []
    assert all(len(fake.orders_of(cid)) == 1 for cid in sent)


def test_each_journal_has_an_identity_that_survives_losing_its_wal(tmp_path: Path) -> None:
    first = Journal.open(tmp_path / "a" / "state.db", profile="paper")
    second = Journal.open(tmp_path / "b" / "state.db", profile="paper")
    assert first.identity != second.identity
    # Only the database file, as a kill -9 followed by a lost -wal leaves it.
    lost = tmp_path / "c" / "state.db"
    lost.parent.mkdir()
    shutil.copy(first.path, lost)
    assert Journal.open(lost, profile="paper").identity == first.identity


def test_a_new_journal_after_one_was_moved_aside_never_reuses_an_id(
    fake: FakeBinance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    engine = live_engine(fake, Journal.open(path, profile="paper"))
    round_trip(engine, fake)
    first_ids = list(fake.create_requests)
    assert len(first_ids) == 2
    path.write_bytes(b"this is not sqlite" * 100)  # the journal can no longer be read
    for wal in (tmp_path / "state.db-wal", tmp_path / "state.db-shm"):
        wal.unlink(missing_ok=True)
    with pytest.raises(JournalError, match="moved to"):
        Journal.open(path, profile="paper")
    with pytest.raises(JournalError, match="--new-journal"):
        Journal.open(path, profile="paper")
    trio.run(trio.sleep, 0.3)  # the account's order list lags order entry
    fresh = Journal.open(path, profile="paper", new_journal=True)
    engine = live_engine(fake, fresh)
    round_trip(engine, fake)
    ids_sent_once(fake)
    assert len(fake.create_requests) == 4
    assert all(
        cid.startswith(client_id_prefix("paper", fresh.identity))
        for cid in fake.create_requests[2:]
    )
    # The fresh journal said what earlier journals did, and booked only its own trade.
    assert "made by earlier journals" in caplog.text
    orders = list(Journal.open(path, profile="paper").orders())
    assert [o.intent.client_id for o in orders] == fake.create_requests[2:]
    assert engine.trades == 1


def test_a_journal_that_lost_its_wal_stops_before_trading(
    fake: FakeBinance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    journal = Journal.open(path, profile="paper")
    # What the database file held before the trade: the WAL had the rest.
    before = tmp_path / "before.db"
    shutil.copy(path, before)
    round_trip(live_engine(fake, journal), fake)
    sent = list(fake.create_requests)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(before, path)  # kill -9, then the WAL lost
    trio.run(trio.sleep, 0.3)  # the account's order list lags order entry
    restarted = live_engine(fake, Journal.open(path, profile="paper"))
    with pytest.raises(BaseException) as info:
        run_until(restarted, lambda: False, limit=10)
    [lost] = [e for e in _leaves(info.value) if isinstance(e, JournalLostData)]
    assert all(cid in str(lost) for cid in sent)  # the list
    assert fake.create_requests == sent  # nothing was sent
    assert not path.exists() and list(tmp_path.glob("state.db.lost-*"))
    with pytest.raises(JournalError, match="--new-journal"):
        Journal.open(path, profile="paper")


def test_the_command_line_reports_lost_data_in_one_line(
    fake: FakeBinance,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    isolated_home: Path,
) -> None:
    """The same refusal from `tradebot-tui --headless --live`: one line, exit status 2."""
    config = tmp_path / "config.toml"
    config.write_text(
        "[strategy]\nwindow_s = 60\n[risk]\nstale_after_s = 0\n"
        '[market]\nsource = "ccxt"\nsymbols = ["BTC/USDT"]\npoll_interval_s = 0.2\n'
        f'[exchange]\nmode = "live"\nrest_url = "{fake.rest_url}"\ntimeout_s = 2\n'
    )
    monkeypatch.setenv("TRADEBOT_API_KEY", "key-1")
    monkeypatch.setenv("TRADEBOT_API_SECRET", "sec-2")
    journal_path = isolated_home / "data" / "tradebot-tui" / "journals" / "live-paper.db"
    journal = Journal.open(journal_path, profile="paper")
    fake.place(client_id_prefix("paper", journal.identity) + "1")  # made, then forgotten
    journal.close()
    trio.run(trio.sleep, 0.3)
    code = main(["--config", str(config), "--headless", "--live", "--confirm-live"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "lost data" in err[0] and "Traceback" not in err[0]


def test_a_502_then_a_lagging_query_never_sends_the_buy_twice(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """The buy executes, the answer is a 502, and for half a second the order query says
    it does not exist: the symbol shows "order status unknown" and nothing is resent."""
    fake.query_lag_s = 0.5
    fake.inject(502, method="POST", path="/api/v3/order", applied=True, visible_s=0.3)
    engine = live_engine(fake, Journal.open(tmp_path / "state.db", profile="paper"))
    shown: set[Status] = set()

    def bought() -> bool:
        if warm(engine):
            fake.set_price("BTCUSDT", "68000.00")
        book = engine.trader.books.get("BTC/USDT")
        if book is not None and book.last_ts:
            shown.add(engine.trader.status("BTC/USDT", engine.time_ms())[0])
        return book is not None and book.state is State.IN_POSITION and not engine.following

    run_until(engine, bought)
    assert Status.UNKNOWN in shown
    assert fake.requests.count(("POST", "/api/v3/order")) == 1
    ids_sent_once(fake)
    position = engine.trader.books["BTC/USDT"].position
    assert position is not None and position.qty == fake.history[0].executed
    engine.trader.ledger.check()


def test_the_journal_logs_and_recordings_are_owner_only(tmp_path: Path) -> None:
    from tradebot_tui.data.recording import RotatingRecorder
    from tradebot_tui.engine.logs import LoggingSetup

    journal = Journal.open(tmp_path / "data" / "state.db", profile="paper")
    journal.record_event("test", "a write makes the WAL")
    setup = LoggingSetup()
    setup.start(tmp_path / "logs")
    setup.stop()
    recorder = RotatingRecorder(tmp_path / "recordings")
    from tradebot_tui.core.ticks import Tick

    recorder.write([Tick(1, "BTC/USDT", 1.0)])
    recorder.close()
    files = [
        journal.path,
        Path(f"{journal.path}-wal"),
        *(tmp_path / "logs").iterdir(),
        *(tmp_path / "recordings").iterdir(),
    ]
    folders = [tmp_path / "data", tmp_path / "logs", tmp_path / "recordings"]
    assert {f.name: oct(stat.S_IMODE(os.stat(f).st_mode)) for f in files} == {
        f.name: "0o600" for f in files
    }
    assert {d.name: oct(stat.S_IMODE(os.stat(d).st_mode)) for d in folders} == {
        d.name: "0o700" for d in folders
    }


def _leaves(exc: BaseException) -> list[BaseException]:
    from tradebot_tui.engine.errors import leaf_errors

    return leaf_errors(exc)


def test_an_order_that_is_not_the_intent_stops_entries_on_the_coin_with_both_figures(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """Someone placed an open order under the id the engine is about to use (a copied
    journal on another machine): the buy answers "Duplicate order sent", the order found
    is not this intent, and the coin is held with both figures shown."""
    journal = Journal.open(tmp_path / "state.db", profile="paper")
    engine = live_engine(fake, journal)
    shown: list[str] = []

    def dropped() -> bool:
        if warm(engine) and not fake.history:
            fake.fill_mode = "delayed"
            fake.fill_delay_s = 3600
            fake.place(client_id_prefix("paper", journal.identity) + "1", "0.00300")
            fake.set_price("BTCUSDT", "68000.00")
        return "BTC/USDT" in engine.trader.gate.held(CoinHold.UNEXPLAINED) and not engine.following

    async def look() -> None:
        snap = engine.snapshot()
        shown.append(next(r.status for r in snap.watch if r.symbol == "BTC/USDT"))
        shown.extend(n.message for n in snap.notices if n.severity == "error")

    run_until(engine, dropped, then=look)
    why = engine.trader.gate.held(CoinHold.UNEXPLAINED)["BTC/USDT"]
    assert "buy 0.003 BTC/USDT" in why and "buy 0.00147 BTC/USDT" in why  # both figures
    assert shown[0] == Status.UNEXPLAINED
    assert any("0.003" in m and "0.00147" in m for m in shown[1:])
    assert len(fake.history) == 1  # nothing of ours was placed besides
    ledger = engine.trader.ledger
    assert ledger.reserved == 0 and ledger.free == ledger.initial  # nothing booked as ours


def test_a_clock_drift_shows_in_the_header(fake: FakeBinance, tmp_path: Path) -> None:
    fake.clock_offset_ms = 4_000  # the exchange's clock runs 4 s ahead of ours
    engine = live_engine(fake, Journal.open(tmp_path / "state.db", profile="paper"))
    circuit: list[str] = []

    async def look() -> None:
        circuit.append(engine.snapshot().circuit)

    run_until(engine, lambda: engine._ready.is_set(), then=look)
    assert circuit == ["clock -4.0s off"]
