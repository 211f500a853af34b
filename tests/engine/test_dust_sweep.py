"""The dust sweep through the whole engine on the fake Binance: a round trip whose buy paid
its commission in the coin leaves dust; `SweepDust` converts it to BNB, journaled, shown
in the history, reconciled, and replayed the same after a restart."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest
import trio

from tests.engine.test_engine_exchange import SETTINGS
from tests.engine.test_journal import live_engine, warm
from tests.fake_exchange import FakeBinance, Fault
from tradebot_tui.config.validate import from_dict, to_dict
from tradebot_tui.core.book import Status
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.orders import OrderClosed, OrderKind, OrderStatus
from tradebot_tui.engine.commands import SweepDust
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.reconciliation import holding_differences, holdings
from tradebot_tui.exchange.reports import Balance
from tradebot_tui.journal.store import Journal

SYMBOL = "BTC/USDT"


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        exchange.base_fee_on_buy = True  # the buy's commission is taken in BTC: dust
        yield exchange


async def until(cond: Callable[[], bool], limit: float = 15.0) -> None:
    with trio.fail_after(limit):
        while not cond():
            await trio.sleep(0.02)


async def round_trip(engine: Engine, fake: FakeBinance) -> None:
    """Buy on a drop, sell above take-profit: what is left of BTC is dust."""
    await until(lambda: warm(engine))
    fake.set_price("BTCUSDT", "68000.00")
    await until(lambda: engine.trader.books[SYMBOL].state is State.IN_POSITION)
    fake.set_price("BTCUSDT", "69100.00")
    await until(lambda: engine.trades >= 1 and not engine.following)
    await until(lambda: SYMBOL in engine.trader.dust)


def run(engine: Engine, body: Callable[[], object], limit: float = 30.0) -> None:
    async def go() -> None:
        with trio.fail_after(limit):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await body()  # type: ignore[misc]
                nursery.cancel_scope.cancel()

    trio.run(go)


def test_the_sweep_converts_the_dust_journals_it_and_a_restart_replays_it(
    fake: FakeBinance, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    engine = live_engine(fake, Journal.open(path, profile="paper"))
    seen: dict[str, object] = {}

    async def body() -> None:
        await round_trip(engine, fake)
        dust = engine.trader.dust[SYMBOL]
        assert fake.balances["BTC"] == dust.qty > 0  # the exchange holds exactly our dust
        seen["dust"] = dust
        seen["text"] = engine.snapshot().dust
        engine.submit(SweepDust())
        await until(lambda: engine.trades >= 2 and not engine.following)
        seen["notices"] = [(n.title, n.message) for n in engine.snapshot().notices]

    run(engine, body)
    dust = seen["dust"]
    assert seen["text"].startswith("dust of BTC, worth about 0.")  # type: ignore[union-attr]
    assert ("Dust sweep", "Converting the dust of BTC to BNB.") in seen["notices"]  # type: ignore[operator]
    assert fake.dust.requests == [["BTC"]]
    assert fake.balances["BTC"] == 0 and fake.balances["BNB"] > 0
    trade = engine.views.trades[0]
    assert trade.exit_reason is ExitReason.DUST_CONVERTED and trade.exit_price == 0
    assert trade.qty == dust.qty and trade.pnl == -dust.cost  # type: ignore[attr-defined]
    ledger = engine.trader.ledger
    ledger.check()
    assert ledger.in_positions == 0 and SYMBOL not in engine.trader.dust
    record = next(r for r in engine.router.recent() if r.intent.kind is OrderKind.DUST_CONVERT)
    assert record.status is OrderStatus.FILLED
    assert re.fullmatch(
        r"converted [\d.]+ BTC to [\d.]+ BNB \(charge [\d.]+ BNB, transaction \d+\)", record.message
    )
    # The BNB credited joined the balances reconciliation expects.
    assert engine.reconciliation is not None and engine.reconciliation.baseline is not None
    assert engine.reconciliation.baseline["BNB"] == fake.balances["BNB"]
    balances = {a: Balance(q, D(0)) for a, q in fake.balances.items()}
    baseline = engine.reconciliation.baseline
    assert holding_differences(holdings(engine.trader), balances, baseline, D(0)) == {}

    again = live_engine(fake, Journal.open(path, profile="paper"))

    async def restarted() -> None:
        await until(lambda: warm(again))

    run(again, restarted)
    assert fake.dust.requests == [["BTC"]]  # not asked again
    assert SYMBOL not in again.trader.dust
    assert again.trader.ledger.realized_pnl == ledger.realized_pnl
    assert [t.exit_reason for t in again.views.trades][:2] == [
        ExitReason.DUST_CONVERTED,
        ExitReason.TAKE_PROFIT,
    ]
    assert again.reconciliation is not None and again.reconciliation.baseline == baseline


def test_a_coin_the_account_also_holds_is_left_alone_and_the_reason_shown(
    fake: FakeBinance, tmp_path: Path
) -> None:
    engine = live_engine(fake, Journal.open(tmp_path / "state.db", profile="paper"))
    seen: dict[str, object] = {}

    async def body() -> None:
        await round_trip(engine, fake)
        fake.balances["BTC"] += D("0.5")  # bought by hand beside the bot
        engine.submit(SweepDust())
        await until(lambda: any(n.title == "Dust sweep" for n in engine.snapshot().notices))
        seen["notice"] = next(n for n in engine.snapshot().notices if n.title == "Dust sweep")

    run(engine, body)
    notice = seen["notice"]
    assert notice.severity == "warning"  # type: ignore[attr-defined]
    assert "more than the bot's dust" in notice.message  # type: ignore[attr-defined]
    assert "the conversion would take it all" in notice.message  # type: ignore[attr-defined]
    assert fake.requests.count(("POST", "/sapi/v1/asset/dust")) == 0
    assert SYMBOL in engine.trader.dust


def test_a_conversion_whose_answer_was_lost_at_a_stop_is_booked_once_after_the_restart(
    fake: FakeBinance, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    quick = from_dict({**to_dict(SETTINGS), "exchange": {"shutdown_grace_s": 0}}, "test")  # type: ignore[arg-type]
    engine = live_engine(fake, Journal.open(path, profile="paper"), quick)
    seen: dict[str, object] = {}

    async def body() -> None:
        await round_trip(engine, fake)
        seen["dust"] = engine.trader.dust[SYMBOL]
        # Binance converts, then answers 503; its log shows the conversion only later.
        fake.faults.append(Fault(503, "POST", "/sapi/v1/asset/dust", applied=True))
        fake.dust.log_lag_s = 3600.0
        engine.submit(SweepDust())
        book = engine.trader.books
        await until(lambda: book[SYMBOL].order_unknown)
        seen["status"] = engine.trader.status(SYMBOL, 0)[0]

    run(engine, body)  # stopped with the conversion in doubt
    assert fake.balances["BTC"] == 0 and SYMBOL not in engine.trader.dust
    assert seen["status"] is Status.UNKNOWN
    fake.dust.log_lag_s = 0.3
    again = live_engine(fake, Journal.open(path, profile="paper"), quick)

    async def restarted() -> None:
        await until(
            lambda: any(t.exit_reason is ExitReason.DUST_CONVERTED for t in again.views.trades)
        )
        await until(lambda: not again.following)

    run(again, restarted)
    assert fake.requests.count(("POST", "/sapi/v1/asset/dust")) == 1  # never asked again
    dust = seen["dust"]
    trade = again.views.trades[0]
    assert trade.qty == dust.qty and trade.pnl == -dust.cost  # type: ignore[attr-defined]
    again.trader.ledger.check()
    book = again.trader.books[SYMBOL]
    # Back where it stood: the take-profit's cooldown goes on, counted from that sale.
    assert SYMBOL not in again.trader.dust and book.order is None and book.position is None
    assert book.state is State.COOLDOWN and book.last_exit_ts == again.views.trades[1].exit_ts_ms


def test_the_daily_sweep_runs_once_a_day_counted_from_the_last_sweep() -> None:
    from tests.core.test_sweep import make, with_dust
    from tradebot_tui.engine.context import Context
    from tradebot_tui.engine.sweeper import DustSweeper

    trader = make()
    with_dust(trader)
    sent: list[list[str]] = []

    class Router:
        async def convert_dust(self, intents: list[object]) -> None:
            sent.append([i.symbol for i in intents])  # type: ignore[attr-defined]
            for intent in intents:  # refused: the dust stays for the next day
                trader.on_closed(OrderClosed(intent.client_id, OrderStatus.REJECTED, 0))  # type: ignore[attr-defined]

    wall = [10_000]
    sweeper = DustSweeper(
        trader,
        Router(),  # type: ignore[arg-type]
        Context(lambda: 0),
        account=None,
        journal=None,
        last_ms=5_000,  # journaled before a restart
        wall_ms=lambda: wall[0],
    )

    async def go() -> list[int]:
        counts = []
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sweeper.run_daily, 0.01, 10.0)  # a "day" of 10 s
                for now in (14_000, 15_000, 24_000, 25_000, 30_000):
                    wall[0] = now
                    await trio.sleep(0.05)
                    counts.append(len(sent))
                nursery.cancel_scope.cancel()
        return counts

    # Due at 15 000 (10 s after 5 000), then at 25 000 (10 s after that sweep).
    assert trio.run(go) == [0, 1, 1, 2, 2]
    assert sent == [[SYMBOL], [SYMBOL]] and sweeper.last_ms == 25_000
