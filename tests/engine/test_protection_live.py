"""Exits resting on the exchange, live (`exits.on_exchange`): the whole engine on the fake
Binance, whose order lists follow Binance's documentation (a LIMIT_MAKER refused when it
would take, the stop leg a limit that rests when the price gapped through it, one leg
executing expires the other, queries that lag entry).

Each test checks what the exchange did, not what the bot says: the lists and their legs
on the fake, every id sent once, and the coins sold exactly once.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal as D
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.engine.test_engine_exchange import SETTINGS
from tests.engine.test_journal import _raw, live_engine, warm
from tests.fake_exchange import FakeBinance, FakeOrderList
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.validate import from_dict
from tradebot_tui.core.bracket import ListState
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.orders import OrderKind
from tradebot_tui.engine.commands import ExitAll, ExitPosition, KillSwitch
from tradebot_tui.engine.engine import Engine
from tradebot_tui.journal.store import Journal

ENTRY = "68000.00"


@pytest.fixture
def fake() -> Any:
    with FakeBinance() as exchange:
        yield exchange


def settings(**exits: Any) -> Settings:
    raw = _raw(SETTINGS)
    return from_dict(
        {
            **raw,
            "exits": {**raw["exits"], "on_exchange": True, **exits},
            "exchange": {**raw["exchange"], "shutdown_grace_s": 0},
        },
        "test",
    )


def engine_on(fake: FakeBinance, path: Path, **exits: Any) -> Engine:
    return live_engine(fake, Journal.open(path, profile="paper"), settings(**exits))


def open_lists(fake: FakeBinance) -> list[FakeOrderList]:
    return [x for x in fake.list_history if not x.done]


def sold(fake: FakeBinance) -> D:
    """Every coin the account sold, by any order or leg."""
    return sum((o.executed for o in fake.history if o.side == "SELL"), D(0))


def bought(fake: FakeBinance) -> D:
    return sum((o.executed for o in fake.history if o.side == "BUY"), D(0))


def ids_sent_once(fake: FakeBinance) -> None:
    sent = Counter(fake.create_requests)
    assert [cid for cid, n in sent.items() if n > 1] == []
    legs = [leg.client_id for x in fake.list_history for leg in x.legs]
    orders = [o.client_id for o in fake.history]
    assert len(orders) == len(set(orders))  # no leg nor order id twice on the exchange
    assert set(legs) <= set(orders)


def book_of(engine: Engine) -> Any:
    return engine.trader.books.get("BTC/USDT")


def scenario(engine: Engine, body: Callable[[], Awaitable[None]], limit: float = 30) -> None:
    """Run `engine` (one run) through `body`, then stop it."""

    async def go() -> None:
        with trio.fail_after(limit):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await body()
                nursery.cancel_scope.cancel()

    trio.run(go)


async def until(cond: Callable[[], bool], limit: float = 15) -> None:
    with trio.fail_after(limit):
        while not cond():
            await trio.sleep(0.02)


def closed(engine: Engine, n: int = 1) -> Callable[[], bool]:
    return lambda: engine.trades >= n and not engine.following


def protected(engine: Engine, fake: FakeBinance) -> bool:
    """Bought, and its list rests on the exchange as the bot knows it."""
    if warm(engine) and not fake.history:
        fake.set_price("BTCUSDT", ENTRY)
    book = book_of(engine)
    return (
        book is not None
        and book.resting is not None
        and book.resting.state is ListState.RESTING
        and len(open_lists(fake)) == 1
    )


def test_a_filled_buy_gets_an_oco_for_what_is_held_and_the_take_profit_leg_sells_it_once(
    fake: FakeBinance, tmp_path: Path
) -> None:
    fake.base_fee_on_buy = True  # the commission is taken in the coin: less is held
    engine = engine_on(fake, tmp_path / "state.db")
    seen: dict[str, Any] = {}

    async def body() -> None:
        await until(lambda: protected(engine, fake))
        [listed] = open_lists(fake)
        seen["list"], seen["ids"] = listed, book_of(engine).resting.ids
        seen["position"] = book_of(engine).position.qty
        seen["held"] = fake.balances["BTC"] + fake.locked.get("BTC", D(0))
        fake.set_price("BTCUSDT", "69100.00")  # the exchange sells at the take-profit
        await until(closed(engine))

    scenario(engine, body)
    listed = seen["list"]
    below, above = listed.legs
    held = seen["held"]
    assert seen["position"] == held < bought(fake)  # after the commission
    step = D("0.00001")
    assert above.qty == below.qty == (held // step) * step  # whole steps of what is held
    entry = fake.history[0].quote / fake.history[0].executed
    assert above.type == "LIMIT_MAKER" and below.type == "STOP_LOSS_LIMIT"
    # At the market's tick: the take-profit rounded up, the stop and its limit down.
    assert above.price == (entry * D("1.015")).quantize(D("0.01"), rounding="ROUND_CEILING")
    assert below.stop_price == (entry * D("0.97")).quantize(D("0.01"), rounding="ROUND_FLOOR")
    assert below.price == (below.stop_price * D("0.99")).quantize(D("0.01"), rounding="ROUND_FLOOR")
    assert (listed.client_id, above.client_id, below.client_id) == seen["ids"].all
    [trade] = engine.views.trades
    assert trade.exit_reason is ExitReason.TAKE_PROFIT
    assert trade.exit_price == above.price  # the leg's own price, not the tick's
    assert sold(fake) == above.qty and above.status == "FILLED" and below.status == "EXPIRED"
    assert engine.trader.dust["BTC/USDT"].qty == held - above.qty
    ids_sent_once(fake)
    engine.trader.ledger.check()
    journal = Journal.open(tmp_path / "state.db", profile="paper")
    [order] = [o for o in journal.orders() if o.adopted]
    assert order.intent.client_id == above.client_id
    assert order.intent.kind is OrderKind.LIMIT_MAKER


def test_the_stop_leg_sells_on_the_exchange_and_is_booked_once(
    fake: FakeBinance, tmp_path: Path
) -> None:
    engine = engine_on(fake, tmp_path / "state.db")

    async def body() -> None:
        await until(lambda: protected(engine, fake))
        [listed] = open_lists(fake)
        fake.set_price("BTCUSDT", str(listed.legs[0].stop_price))  # on the stop: it fills
        await until(closed(engine))

    scenario(engine, body)
    [listed] = fake.list_history
    below = listed.legs[0]
    [trade] = engine.views.trades
    assert trade.exit_reason is ExitReason.STOP_LOSS
    assert sold(fake) == below.qty == below.executed
    assert not open_lists(fake)
    ids_sent_once(fake)
    engine.trader.ledger.check()


def test_a_price_that_gaps_through_the_stop_limit_is_sold_at_market_once(
    fake: FakeBinance, tmp_path: Path
) -> None:
    engine = engine_on(fake, tmp_path / "state.db")

    async def body() -> None:
        await until(lambda: protected(engine, fake))
        [listed] = open_lists(fake)
        below = listed.legs[0]
        gap = (below.price - D("100")).quantize(D("0.01"))
        fake.set_price("BTCUSDT", str(gap))  # triggered, and below its limit: it rests
        assert below.triggered and below.executed == 0
        await until(closed(engine))

    scenario(engine, body)
    [listed] = fake.list_history
    [trade] = engine.views.trades
    assert trade.exit_reason is ExitReason.EMERGENCY_EXIT
    market = [o for o in fake.history if o.side == "SELL" and o.list_id < 0]
    assert len(market) == 1 and listed.legs[0].status == "CANCELED"
    assert sold(fake) == listed.legs[0].qty  # the list's coins, sold once, at market
    ids_sent_once(fake)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (ExitPosition("BTC/USDT"), ExitReason.MANUAL),  # `e`
        (ExitAll(remote=True), ExitReason.MANUAL),  # Telegram's /exitall
        (KillSwitch("equity 990.00 USDT fell to the kill switch's 997.00"), ExitReason.KILL_SWITCH),
    ],
    ids=["exit-key", "telegram-exitall", "kill-switch"],
)
def test_an_exit_of_the_bots_own_cancels_the_list_first_then_sells_once(
    fake: FakeBinance, tmp_path: Path, command: Any, reason: ExitReason
) -> None:
    engine = engine_on(fake, tmp_path / "state.db")

    async def body() -> None:
        await until(lambda: protected(engine, fake))
        engine.submit(command)
        await until(closed(engine))

    scenario(engine, body)
    [listed] = fake.list_history
    assert all(leg.status == "CANCELED" for leg in listed.legs)
    [trade] = engine.views.trades
    assert trade.exit_reason is reason
    assert sold(fake) == listed.legs[0].qty
    assert engine.trader.gate.paused is (reason is ExitReason.KILL_SWITCH)
    ids_sent_once(fake)


def test_a_leg_that_fills_while_the_cancel_is_on_its_way_is_booked_and_nothing_more_sold(
    fake: FakeBinance, tmp_path: Path
) -> None:
    engine = engine_on(fake, tmp_path / "state.db")

    async def body() -> None:
        await until(lambda: protected(engine, fake))
        [listed] = open_lists(fake)
        # The cancel reaches the exchange after the take-profit leg filled: Binance
        # answers that it knows no open list (-2011).
        fake.inject("timeout", method="DELETE", path="/api/v3/orderList", delay=0.3)
        engine.submit(ExitPosition("BTC/USDT"))
        await trio.sleep(0.1)
        fake.set_price("BTCUSDT", str(listed.legs[1].price))
        await until(closed(engine))

    scenario(engine, body)
    [listed] = fake.list_history
    above = listed.legs[1]
    [trade] = engine.views.trades
    assert trade.exit_reason is ExitReason.TAKE_PROFIT
    assert sold(fake) == above.qty == above.executed  # the leg's sale, and nothing more
    assert not [o for o in fake.history if o.side == "SELL" and o.list_id < 0]
    ids_sent_once(fake)
    engine.trader.ledger.check()


def test_the_trailing_stop_moves_the_stop_leg_up_by_replacing_the_list(
    fake: FakeBinance, tmp_path: Path
) -> None:
    engine = engine_on(fake, tmp_path / "state.db")

    def replaced() -> bool:
        lists = open_lists(fake)
        resting = book_of(engine).resting
        return len(fake.list_history) == 2 and len(lists) == 1 and resting is not None

    async def body() -> None:
        await until(lambda: protected(engine, fake))
        fake.set_price("BTCUSDT", "68900.00")  # past the trailing's activation
        await until(replaced)
        assert book_of(engine).resting.bracket.trailing
        fake.set_price("BTCUSDT", str(open_lists(fake)[0].legs[0].stop_price))
        await until(closed(engine))

    scenario(engine, body)
    first, second = fake.list_history
    assert all(leg.status == "CANCELED" for leg in first.legs)
    stop = second.legs[0].stop_price
    assert stop > first.legs[0].stop_price
    assert stop == (D("68900.00") * D("0.995")).quantize(D("0.01"), rounding="ROUND_FLOOR")
    assert not {x.client_id for x in second.legs} & {x.client_id for x in first.legs}
    assert engine.views.trades[0].exit_reason is ExitReason.TRAILING_STOP
    assert sold(fake) == second.legs[0].qty
    ids_sent_once(fake)


def test_a_list_cancelled_by_hand_is_placed_again_and_said(
    fake: FakeBinance, tmp_path: Path
) -> None:
    engine = engine_on(fake, tmp_path / "state.db")

    async def body() -> None:
        await until(lambda: protected(engine, fake))
        [first] = open_lists(fake)
        with fake.lock:
            fake._cancel_list(first)  # the owner cancels it on the exchange's site
        book_of(engine).resting.crossed = True  # looked at at once (else within check_s)
        await until(lambda: len(fake.list_history) == 2 and protected(engine, fake))

    scenario(engine, body)
    _, second = fake.list_history
    assert open_lists(fake) == [second] and book_of(engine).state is State.IN_POSITION
    assert engine.trades == 0 and sold(fake) == 0
    ids_sent_once(fake)


def test_a_restart_books_a_leg_filled_while_down_once_and_protects_what_is_held(
    fake: FakeBinance, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    engine = engine_on(fake, path)
    scenario(engine, lambda: until(lambda: protected(engine, fake)))
    [listed] = open_lists(fake)
    above = listed.legs[1]
    fake.set_price("BTCUSDT", str(above.price))  # while the bot is down
    assert above.status == "FILLED"
    again = engine_on(fake, path)
    scenario(again, lambda: until(closed(again)))
    [trade] = again.views.trades
    assert trade.exit_reason is ExitReason.TAKE_PROFIT and sold(fake) == above.qty
    ids_sent_once(fake)
    again.trader.ledger.check()
    # A third start finds everything over: nothing adopted twice, nothing placed.
    third = engine_on(fake, path)
    scenario(third, partial(trio.sleep, 1.0))
    assert third.trades == 1 and third.trader.books["BTC/USDT"].position is None
    assert len(fake.list_history) == 1 and sold(fake) == above.qty


def test_a_restart_adopts_the_resting_list_and_places_nothing_new(
    fake: FakeBinance, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    engine = engine_on(fake, path)
    scenario(engine, lambda: until(lambda: protected(engine, fake)))
    [listed] = open_lists(fake)
    again = engine_on(fake, path)

    def looked_at() -> bool:
        book = again.trader.books.get("BTC/USDT")
        return book is not None and book.resting is not None and not book.resting.crossed

    scenario(again, lambda: until(looked_at))
    assert open_lists(fake) == [listed] and len(fake.list_history) == 1
    assert again.trader.books["BTC/USDT"].resting.ids.list_id == listed.client_id
    assert again.trader.ids.next() > listed.legs[1].client_id  # ids go on after the list's


def test_a_list_journaled_but_never_sent_is_looked_up_then_placed_anew(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """The answer was lost and the list never reached the exchange: its id is looked up
    until the lagging query had time to show it, then a new list (new ids) rests."""
    path = tmp_path / "state.db"
    engine = engine_on(fake, path)
    fake.inject("drop", method="POST", path="/api/v3/orderList/oco")  # never placed

    async def body() -> None:
        await until(lambda: bool(fake.history) or protected(engine, fake))
        await until(lambda: protected(engine, fake))

    scenario(engine, body)
    first, second = Journal.open(path, profile="paper").order_lists()
    [listed] = fake.list_history
    assert listed.client_id == second.ids.list_id != first.ids.list_id
    ids_sent_once(fake)
    assert (first.status, second.status) == ("absent", "resting")


def test_on_exchange_turned_off_takes_the_lists_down_and_the_bot_keeps_the_exits(
    fake: FakeBinance, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    engine = engine_on(fake, path)
    scenario(engine, lambda: until(lambda: protected(engine, fake)))
    [listed] = open_lists(fake)
    again = live_engine(fake, Journal.open(path, profile="paper"), settings(on_exchange=False))

    async def body() -> None:
        await until(lambda: not open_lists(fake) and book_of(again).resting is None)
        fake.set_price("BTCUSDT", "69100.00")  # the bot's own take-profit sells
        await until(closed(again))

    scenario(again, body)
    assert all(leg.status == "CANCELED" for leg in listed.legs)
    assert sold(fake) == listed.legs[0].qty
    ids_sent_once(fake)


def test_a_buy_filling_in_parts_is_protected_as_it_grows(fake: FakeBinance, tmp_path: Path) -> None:
    """Half the buy fills at once, the rest two seconds later: the half rests in a list
    at once, and the list is placed again for the whole once the buy has ended."""
    fake.fill_mode, fake.partial_fraction, fake.fill_delay_s = "partial", D("0.5"), 2.0
    engine = engine_on(fake, tmp_path / "state.db")
    while_buying: list[D] = []

    def first_part_protected() -> bool:
        if warm(engine) and not fake.history:
            fake.set_price("BTCUSDT", ENTRY)
        book = book_of(engine)
        if book is not None and book.buying and open_lists(fake):
            while_buying.append(open_lists(fake)[0].legs[0].qty)
        return bool(while_buying)

    async def body() -> None:
        await until(first_part_protected)
        await until(lambda: book_of(engine).state is State.IN_POSITION)
        await until(lambda: len(fake.list_history) == 2 and protected(engine, fake))

    scenario(engine, body)
    buy = fake.history[0]
    first, second = fake.list_history
    assert while_buying[0] == first.legs[0].qty < buy.executed
    assert all(leg.status == "CANCELED" for leg in first.legs)
    assert second.legs[0].qty == buy.executed == book_of(engine).position.qty
    assert sold(fake) == 0
    ids_sent_once(fake)


def test_an_exit_asked_while_the_list_is_being_cancelled_survives_a_restart(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """The exit is asked, its list's cancel is slow, and the bot stops before it is done:
    the journal kept the exit with the list's id, so the next start cancels the list and
    sells, once."""
    path = tmp_path / "state.db"
    engine = engine_on(fake, path)
    fake.inject("timeout", method="DELETE", path="/api/v3/orderList", delay=3.0)

    async def body() -> None:
        await until(lambda: protected(engine, fake))
        engine.submit(ExitPosition("BTC/USDT"))
        await until(lambda: book_of(engine).resting.state is ListState.CANCELLING)

    scenario(engine, body)
    assert engine.trades == 0
    again = engine_on(fake, path)
    scenario(again, lambda: until(closed(again)))
    [trade] = again.views.trades
    assert trade.exit_reason is ExitReason.MANUAL
    [listed] = fake.list_history
    assert all(leg.status == "CANCELED" for leg in listed.legs)
    assert sold(fake) == listed.legs[0].qty
    ids_sent_once(fake)


def test_a_list_resting_for_a_position_the_bot_no_longer_holds_is_cancelled_and_said(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """The journal knows a list it placed, but no longer any position it protects (the
    coins were sold by hand): the next start cancels it and says so."""
    from tradebot_tui.core.bracket import Bracket, ListIds
    from tradebot_tui.core.identity import client_id_prefix, client_order_id
    from tradebot_tui.journal import schema

    path = tmp_path / "state.db"
    journal = Journal.open(path, profile="paper")
    prefix = client_id_prefix("paper", journal.identity)
    ids = ListIds(*(client_order_id(prefix, n) for n in (1, 2, 3)))
    bracket = Bracket(D("0.001"), D("71000.00"), D("66000.00"), D("65340.00"), False)
    journal.write([schema.order_list("BTC/USDT", ids, bracket, 0)])
    journal.write([schema.list_status(ids.list_id, "resting")])
    journal.close()
    fake.balances["BTC"] = D("0.001")
    q = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.001",
        "aboveType": "LIMIT_MAKER",
        "abovePrice": "71000.00",
        "aboveClientOrderId": ids.above,
        "belowType": "STOP_LOSS_LIMIT",
        "belowStopPrice": "66000.00",
        "belowPrice": "65340.00",
        "belowTimeInForce": "GTC",
        "belowClientOrderId": ids.below,
        "listClientOrderId": ids.list_id,
    }
    with fake.lock:
        fake.create_oco(q)
    engine = live_engine(fake, Journal.open(path, profile="paper"), settings())

    async def body() -> None:
        await until(lambda: not open_lists(fake) and book_of(engine).resting is None)
        assert engine.journal_writer is not None
        await engine.journal_writer.drain()

    scenario(engine, body)
    assert engine.trader.ids.next() > ids.below  # never given again
    events = (
        sqlite3.connect(path)
        .execute("SELECT detail FROM events WHERE kind='protection'")
        .fetchall()
    )
    assert any("for no position of the bot (sold by hand?): cancelled" in e[0] for e in events)
    assert sold(fake) == 0 and engine.trades == 0


def test_a_list_the_stream_says_ended_is_looked_at_at_once(
    fake: FakeBinance, tmp_path: Path
) -> None:
    """With the user data stream, a list cancelled on the exchange's site is known from
    its `listStatus` push (not at the next periodic look), and placed again."""
    from tests.engine.test_engine_exchange import fast_clock
    from tests.exchange.test_live_broker import make_broker, make_client
    from tradebot_tui.exchange.ccxt_polling import CcxtPollingSource
    from tradebot_tui.exchange.universe import UniverseRule
    from tradebot_tui.exchange.user_stream import PushedOrders, UserStream

    async def go() -> None:
        async with trio.open_nursery() as outer:
            ws_api = await outer.start(fake.serve_ws_api)
            client = make_client(fake)
            rule = UniverseRule("USDT", "static", ("BTC/USDT",))
            source = CcxtPollingSource(client, rule, interval_s=0.02, clock_ms=fast_clock())  # type: ignore[arg-type]
            pushed = PushedOrders()
            broker = make_broker(client, poll_s=0.02, max_poll_s=0.05, pushed=pushed)
            stream = UserStream(pushed, "key-1", "sec-2", url=ws_api)
            journal = Journal.open(tmp_path / "state.db", profile="paper")
            engine = Engine(
                settings(), source, broker, mode="LIVE", clock=lambda: 0, journal=journal
            )
            engine.add_service(stream)
            assert engine.protector is not None
            engine.protector.check_s = 3600.0  # no periodic look: only the push
            with trio.fail_after(20):
                async with trio.open_nursery() as nursery:
                    await nursery.start(engine.run)
                    await until(lambda: protected(engine, fake) and pushed.up)
                    [first] = open_lists(fake)
                    with fake.lock:
                        fake._cancel_list(first)  # pushes its listStatus ALL_DONE
                    await until(lambda: len(fake.list_history) == 2 and protected(engine, fake))
                    nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()

    trio.run(go)
    first, second = fake.list_history
    assert first.done and open_lists(fake) == [second] and sold(fake) == 0
    ids_sent_once(fake)
