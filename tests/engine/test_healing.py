"""Errors heal: a coin whose order is in doubt is settled again, keeps its exits, and the
trader can retry it or sell it at once. One test per path, on the fake Binance.

The doubt is made real: an entry fills in part, then every order query answers 503 until
the test lets the exchange answer again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from tests.engine.test_journal import live_engine, warm
from tests.fake_exchange import FakeBinance
from tradebot_tui.core.book import SymbolBook
from tradebot_tui.core.lifecycle import State
from tradebot_tui.engine.commands import ExitPosition, RetryNow
from tradebot_tui.engine.engine import Engine
from tradebot_tui.journal.store import Journal

SYMBOL = "BTC/USDT"


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


def in_doubt(fake: FakeBinance, tmp_path: Path, base_s: float) -> Engine:
    fake.fill_mode = "partial"
    fake.fill_delay_s = 1.0
    engine = live_engine(fake, Journal.open(tmp_path / "state.db", profile="paper"))
    engine.healer.base_s = base_s
    return engine


async def until(cond: Callable[[], bool], limit: float = 15.0) -> None:
    with trio.fail_after(limit):
        while not cond():
            await trio.sleep(0.02)


async def into_error(engine: Engine, fake: FakeBinance) -> Callable[[], SymbolBook]:
    """Buy (in part), then make the exchange unable to say what became of the order."""

    def book() -> SymbolBook:
        return engine.trader.books[SYMBOL]

    await until(lambda: warm(engine))
    fake.set_price("BTCUSDT", "68000.00")
    await until(lambda: book().state is State.ENTRY_PARTIAL)
    fake.inject(503, method="GET", path="/api/v3/order", count=10_000)
    await until(lambda: book().state is State.ERROR)
    position = book().position
    assert position is not None and position.qty > 0  # the part bought is held
    return book


def run(engine: Engine, scenario: Callable[[], object]) -> None:
    async def main() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await scenario()  # type: ignore[misc]
                nursery.cancel_scope.cancel()

    trio.run(main)


def settled_exactly(engine: Engine, fake: FakeBinance) -> None:
    engine.trader.ledger.check()
    assert len(fake.history) == len(set(fake.create_requests))  # nothing sent twice
    bought = fake.history[0]
    assert bought.status == "FILLED"


def test_a_coin_in_error_heals_by_itself_once_the_exchange_answers(
    fake: FakeBinance, tmp_path: Path
) -> None:
    engine = in_doubt(fake, tmp_path, base_s=0.3)

    async def scenario() -> None:
        book = await into_error(engine, fake)
        fake.faults.clear()  # the exchange answers again
        await until(lambda: book().state is State.IN_POSITION and not engine.following)
        position = book().position
        assert position is not None and position.qty == fake.history[0].executed

    run(engine, scenario)
    settled_exactly(engine, fake)


def test_a_position_in_error_keeps_its_exits(fake: FakeBinance, tmp_path: Path) -> None:
    """The take-profit fires while the order is in doubt: it is due, and sent the moment
    the order is settled (never two orders at once)."""
    engine = in_doubt(fake, tmp_path, base_s=0.3)

    async def scenario() -> None:
        book = await into_error(engine, fake)
        fake.set_price("BTCUSDT", "69100.00")  # past the take-profit
        await until(lambda: book().exit_due is not None)
        assert len(fake.history) == 1  # nothing sent while in doubt
        fake.faults.clear()
        await until(lambda: engine.trades == 1 and not engine.following)

    run(engine, scenario)
    assert engine.views.trades[0].exit_reason.value == "take_profit"
    settled_exactly(engine, fake)
    assert fake.balances.get("BTC", 0) == 0  # all of it sold: the rest bought too


def test_retry_now_settles_at_once(fake: FakeBinance, tmp_path: Path) -> None:
    engine = in_doubt(fake, tmp_path, base_s=600)  # the back-off alone: ten minutes

    async def scenario() -> None:
        book = await into_error(engine, fake)
        fake.faults.clear()
        await trio.sleep(0.5)
        assert book().state is State.ERROR  # nothing retried yet
        engine.submit(RetryNow(SYMBOL))
        await until(lambda: book().state is State.IN_POSITION and not engine.following)
        notices = [n.title for n in engine.snapshot().notices]
        assert f"Retry {SYMBOL}" in notices

    run(engine, scenario)
    settled_exactly(engine, fake)


def test_exit_now_sells_once_the_order_is_settled(fake: FakeBinance, tmp_path: Path) -> None:
    engine = in_doubt(fake, tmp_path, base_s=600)

    async def scenario() -> None:
        book = await into_error(engine, fake)
        fake.faults.clear()
        engine.submit(ExitPosition(SYMBOL))  # the `e` key on the positions screen
        await until(lambda: engine.trades == 1 and not engine.following)
        assert book().state is State.COOLDOWN

    run(engine, scenario)
    assert engine.views.trades[0].exit_reason.value == "manual"
    settled_exactly(engine, fake)
