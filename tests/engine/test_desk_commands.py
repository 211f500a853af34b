"""The engine side of the trading desk: commands, histories, notices and the replay source."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from tests.engine.test_engine_exchange import (  # noqa: F401
    SETTINGS,
    START,
    fake,
    fast_clock,
    warm_then_drop,
)
from tests.exchange.test_live_broker import make_broker, make_client
from tests.fake_exchange import FakeBinance
from tests.helpers import expected_live_ticks, saw_tooth_file, sim_engine
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.book import Status
from tradebot_tui.data.files import read_file
from tradebot_tui.engine.commands import (
    ApplySettings,
    CancelOrder,
    ExitAll,
    Focus,
    PauseEntries,
    ReplayControl,
    ToggleSymbol,
)
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.history import SPARK_MINUTES, EquityHistory, PriceHistory
from tradebot_tui.engine.replay_source import SPEEDS, ReplaySource
from tradebot_tui.engine.snapshot import EngineSnapshot
from tradebot_tui.exchange.ccxt_polling import CcxtPollingSource
from tradebot_tui.exchange.universe import UniverseRule
from tradebot_tui.replay.runner import run_replay
from tradebot_tui.wiring.replay import replay_engine

STEPS = 900


async def run_until_done(engine: Engine, total: int, commands=()) -> EngineSnapshot:  # type: ignore[no-untyped-def]
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            for command in commands:
                engine.submit(command)
            while engine.ticks < total:
                await trio.sleep(0.01)
            await trio.sleep(0.05)  # the commands' turn
            snap = engine.snapshot()
            nursery.cancel_scope.cancel()
    return snap


def test_histories_charts_and_notices_of_a_simulated_run() -> None:
    settings = Settings()
    engine = sim_engine(settings, steps=STEPS, publish=lambda snap: None)
    total = expected_live_ticks(settings, steps=STEPS)
    snap = trio.run(run_until_done, engine, total, [Focus("BTC/USDT")])
    row = next(r for r in snap.watch if r.symbol == "BTC/USDT")
    assert 2 <= len(row.spark) <= SPARK_MINUTES and row.spark[-1] == row.last
    focus = snap.focus
    assert focus is not None and focus.symbol == "BTC/USDT"
    # The warm-up hour and the fifteen live minutes, one bar a minute.
    assert 70 <= len(focus.bars) <= 80
    assert all(b.low <= b.close <= b.high for b in focus.bars)
    assert focus.bars[-1].close == row.last and focus.anchor == row.anchor
    assert focus.trigger_price == pytest.approx(
        row.anchor * (1 - settings.strategy.trigger_pct / 100)
    )  # type: ignore[operator]
    assert len(snap.equity_curve) >= 15
    assert snap.pnl_today == snap.equity - settings.budget.initial
    assert (
        snap.recent_trades and snap.recent_trades[0].exit_ts_ms >= snap.recent_trades[-1].exit_ts_ms
    )
    titles = [n.title for n in snap.notices]
    assert any(t.startswith("Bought ") for t in titles)
    assert any(t.startswith("Sold ") for t in titles)
    assert [n.seq for n in snap.notices] == sorted({n.seq for n in snap.notices})


def test_no_histories_without_a_ui() -> None:
    settings = Settings()
    engine = sim_engine(settings, steps=60)
    snap = trio.run(
        run_until_done, engine, expected_live_ticks(settings, steps=60), [Focus("BTC/USDT")]
    )
    assert snap.focus is None and all(r.spark == () for r in snap.watch)


def test_a_paused_coin_is_not_bought_and_resumes() -> None:
    settings = Settings()
    engine = sim_engine(settings, steps=STEPS, publish=lambda snap: None)
    total = expected_live_ticks(settings, steps=STEPS)

    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                engine.submit(ToggleSymbol("SUI/USDT"))
                await trio.lowlevel.checkpoint()
                while engine.ticks < total:
                    await trio.sleep(0.01)
                snap = engine.snapshot()
                assert "SUI/USDT" in snap.paused_symbols
                status = next(r.status for r in snap.watch if r.symbol == "SUI/USDT")
                assert status in (Status.SYMBOL_PAUSED, Status.IN_POSITION, Status.COOLDOWN)
                assert any(n.answer and "paused for this coin" in n.message for n in snap.notices)
                engine.submit(ToggleSymbol("SUI/USDT"))
                await trio.sleep(0.05)
                assert not engine.snapshot().paused_symbols
                nursery.cancel_scope.cancel()

    trio.run(main)


def test_apply_settings_changes_strategy_risk_and_exits_only() -> None:
    settings = Settings()
    engine = sim_engine(settings, steps=60, publish=lambda snap: None)
    new = replace(
        settings,
        strategy=replace(settings.strategy, trigger_pct=4.0),
        risk=replace(settings.risk, max_positions=2),
        budget=replace(settings.budget, initial=D(5000), stake=D(50)),
    )
    snap = trio.run(
        run_until_done, engine, expected_live_ticks(settings, steps=60), [ApplySettings(new)]
    )
    assert snap.trigger_pct == 4.0 and snap.max_positions == 2
    assert engine.trader.params.stake == settings.budget.stake  # budget waits for a restart
    assert engine.settings.budget == settings.budget
    notice = next(n for n in snap.notices if n.title == "Settings applied")
    assert "strategy.trigger_pct" in notice.message and "risk.max_positions" in notice.message
    assert "Next start: budget" in notice.message


def live_btc_engine(exchange: FakeBinance) -> Engine:
    """A live engine on the fake Binance, trading BTC/USDT alone, polled fast."""
    client = make_client(exchange)
    rule = UniverseRule("USDT", "static", ("BTC/USDT",))
    source = CcxtPollingSource(client, rule, interval_s=0.02, clock_ms=fast_clock())  # type: ignore[arg-type]
    broker = make_broker(client, poll_s=0.02)
    return Engine(SETTINGS, source, broker, mode="LIVE", clock=lambda: 0, publish=lambda s: None)


async def first_buy_sent(engine: Engine, exchange: FakeBinance) -> str:
    """Warm BTC/USDT up, drop it into an entry, and wait until the buy reaches the fake:
    its client id. Bounded: 10 s at most."""
    await warm_then_drop(engine, exchange)
    for _ in range(500):
        if exchange.orders:
            return next(iter(exchange.orders))
        await trio.sleep(0.02)
    raise AssertionError("no buy reached the exchange within 10 s")


def test_cancel_reaches_the_exchange_and_frees_the_budget(fake: FakeBinance) -> None:  # noqa: F811
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 3600  # never fills during the test
    engine = live_btc_engine(fake)

    async def main() -> tuple[str, EngineSnapshot]:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                cid = await first_buy_sent(engine, fake)
                assert list(fake.orders) == [cid]
                assert engine.trader.ledger.reserved > 0
                engine.submit(CancelOrder(cid))
                while engine.trader.order_book(cid) is not None:
                    await trio.sleep(0.02)
                engine.submit(CancelOrder(cid))  # again: nothing open any more
                await trio.sleep(0.05)
                snap = engine.snapshot()
                ledger = engine.trader.ledger
                ledger.check()
                # The budget is back, and the coin is paused: no new entry at once.
                await trio.sleep(0.3)
                assert ledger.reserved == 0 and ledger.free == SETTINGS.budget.initial
                assert list(fake.orders) == [cid]
                assert "BTC/USDT" in snap.paused_symbols
                nursery.cancel_scope.cancel()
        return cid, snap

    cid, snap = trio.run(main)
    assert fake.orders[cid].status == "CANCELED"
    assert next(o for o in snap.orders if o.client_id == cid).status == "canceled"
    messages = [n.message for n in snap.notices if n.answer]
    assert any("cancel requested" in m for m in messages)
    assert any("already canceled" in m for m in messages)


def test_exit_all_while_the_buy_is_open_sells_what_it_bought(fake: FakeBinance) -> None:  # noqa: F811
    """Exit all (the kill switch's step) while the coin's market buy has not filled yet:
    nothing is sold at once, the trader is told why, and the coin is sold as soon as the
    buy fills."""
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.6
    engine = live_btc_engine(fake)

    async def main() -> EngineSnapshot:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await first_buy_sent(engine, fake)
                engine.submit(PauseEntries())
                engine.submit(ExitAll())
                sells: list[str] = []
                for _ in range(1_000):  # bounded: 20 s at most
                    sells = [c for c, o in fake.orders.items() if o.side == "SELL"]
                    book = engine.trader.books["BTC/USDT"]
                    if sells and book.position is None and not engine.trader.open_orders():
                        break
                    await trio.sleep(0.02)
                assert len(sells) == 1
                snap = engine.snapshot()
                nursery.cancel_scope.cancel()
        return snap

    snap = trio.run(main)
    messages = [n.message for n in snap.notices if n.answer]
    assert any("buy order is still open" in m for m in messages)
    assert snap.positions == () and snap.trades == 1
    engine.trader.ledger.check()


# -- histories -----------------------------------------------------------------------------------


def test_price_history_keeps_minute_bars_bounded() -> None:
    history = PriceHistory()
    for i in range(600 * 4):  # ten hours at 15 s
        history.add(i * 15_000, "X/USDT", 100.0 + (i % 7))
    bars = history.bars("X/USDT")
    assert len(bars) == 241  # four hours kept, plus the current minute
    assert all(b.low <= b.close <= b.high for b in bars)
    assert bars[-2].ts_ms + 60_000 == bars[-1].ts_ms
    assert len(history.spark("X/USDT")) == SPARK_MINUTES
    assert history.spark("nope") == () and history.bars("nope") == ()
    history.add(0, "X/USDT", 1.0)  # a late tick joins the current minute
    assert history.bars("X/USDT")[-1].low == 1.0


def test_equity_history_is_one_point_a_minute_for_a_day() -> None:
    history = EquityHistory()
    for i in range(3000):
        history.add(i * 30_000, float(i))
    points = history.points()
    assert len(points) == 1440
    assert points[-1] == (2999 * 30_000, 2999.0)  # the minute's last value
    assert points[-2] == (2997 * 30_000, 2997.0)
    history.add(0, -1.0)  # out of order: ignored
    assert history.points() == points


# -- the replay source ---------------------------------------------------------------------------


def test_replay_in_the_engine_trades_exactly_like_the_headless_replay(tmp_path: Path) -> None:
    path = saw_tooth_file(tmp_path)
    settings = Settings()
    settings = replace(
        settings,
        strategy=replace(settings.strategy, window_s=600),
        risk=replace(settings.risk, cooldown_s=0, stale_after_s=0),
    )
    series = [read_file(path)]
    expected = run_replay(
        series, settings.strategy_params(), quote="USDT", initial=settings.budget.initial
    )
    source = ReplaySource(series, speed=SPEEDS[-1])
    engine = replay_engine(settings, source)(publish=lambda s: None)

    async def main() -> EngineSnapshot:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                while not source.done:
                    await trio.sleep(0.01)
                await trio.sleep(0.05)
                snap = engine.snapshot()
                nursery.cancel_scope.cancel()
        return snap

    snap = trio.run(main)
    assert snap.replay is not None and snap.replay.done and snap.replay.progress == 1.0
    assert snap.mode == "REPLAY" and snap.ticks == expected.ticks
    got = [(t.symbol, t.entry_ts_ms, t.exit_ts_ms, t.pnl) for t in reversed(snap.recent_trades)]
    want = [(t.symbol, t.entry_ts_ms, t.exit_ts_ms, t.pnl) for t in expected.trades]
    assert want and got == want


def test_replay_source_pauses_steps_and_changes_speed(tmp_path: Path) -> None:
    series = [read_file(saw_tooth_file(tmp_path, minutes=120))]
    source = ReplaySource(series, speed=60, paused=True)
    batches: list[int] = []

    async def main() -> None:
        send, recv = trio.open_memory_channel(100)
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                await nursery.start(source.run, send)
                await trio.sleep(0.2)
                assert recv.statistics().current_buffer_used == 0  # paused: nothing
                source.control("step")
                batch = await recv.receive()
                # One minute past the first tick: the first two minutes of both coins.
                assert {t[0] for t in batch.ticks} == {START, START + 60_000}
                batches.append(len(batch.ticks))
                assert source.paused
                source.control("faster")
                assert source.speed == next(s for s in SPEEDS if s > 60)
                source.control("slower")
                source.control("slower")
                assert source.speed == 30
                for _ in range(len(SPEEDS) + 1):
                    source.control("faster")
                assert source.speed == SPEEDS[-1]
                source.control("pause")  # resume at the top speed: the rest at once
                while not source.done:
                    await trio.sleep(0.01)
                status = source.replay_status()
                assert status.done and status.progress == 1.0
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert batches == [4]


def test_replay_source_warms_before_from(tmp_path: Path) -> None:
    series = [read_file(saw_tooth_file(tmp_path, minutes=60))]
    source = ReplaySource(series, speed=SPEEDS[-1], from_ms=START + 30 * 60_000)

    async def main() -> list[bool]:
        send, recv = trio.open_memory_channel(100)
        kinds = []
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                await nursery.start(source.run, send)
                while not source.done or recv.statistics().current_buffer_used:
                    batch = await recv.receive()
                    if batch.ticks:
                        kinds.append(batch.warmup)
                        if batch.warmup:
                            assert max(t[0] for t in batch.ticks) < START + 30 * 60_000
                nursery.cancel_scope.cancel()
        return kinds

    kinds = trio.run(main)
    assert kinds[0] is True and not any(kinds[1:])
    with pytest.raises(ValueError, match="no ticks"):
        ReplaySource([])


def test_replay_control_on_a_live_engine_is_explained() -> None:
    settings = Settings()
    engine = sim_engine(settings, steps=30, publish=lambda snap: None)
    snap = trio.run(
        run_until_done, engine, expected_live_ticks(settings, steps=30), [ReplayControl("pause")]
    )
    assert any("Not a replay" in n.message for n in snap.notices)


def test_order_rows_are_made_again_only_for_orders_that_changed() -> None:
    settings = Settings()
    engine = sim_engine(settings, steps=STEPS, publish=lambda snap: None)
    total = expected_live_ticks(settings, steps=STEPS)
    first = trio.run(run_until_done, engine, total)
    assert len(first.orders) >= 4
    again = engine.snapshot()
    # Nothing changed: the very same rows, and each as a fresh one would be.
    assert all(a is b for a, b in zip(first.orders, again.orders, strict=True))
    markets = engine._source.markets()
    records = list(engine.router.recent())
    assert list(again.orders) == [engine.views._order_row(r, markets, frozenset()) for r in records]
    # One order's message changes: its row alone is made again, and says so.
    records[1].message = "changed by the test"
    third = engine.snapshot()
    assert third.orders[0] is again.orders[0]
    assert third.orders[1] is not again.orders[1]
    assert third.orders[1] == engine.views._order_row(records[1], markets, frozenset())
    assert all(a is b for a, b in zip(third.orders[2:], again.orders[2:], strict=True))
