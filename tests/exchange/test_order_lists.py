"""OCO order lists on the fake Binance through `exchange.order_lists`: placed once under
our three ids, refused with Binance's words, a lost answer settled by the lagging query
and never sent again, cancelled, found open, a leg's fill read from its order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal as D
from typing import Any

import pytest
import trio

from tests.exchange.test_live_broker import make_client
from tests.fake_exchange import FakeBinance, Fault
from tradebot_tui.core.bracket import Bracket
from tradebot_tui.core.identity import OrderIds
from tradebot_tui.core.orders import OrderStatus
from tradebot_tui.exchange.order_lists import (
    ListIds,
    ListInDoubt,
    ListRefused,
    OrderLists,
    parse_order_list,
)
from tradebot_tui.exchange.reports import MalformedReport

SYMBOL = "BTC/USDT"
# 0.001 BTC held; take-profit 71000 above 70000, stop 68000 with its limit at 67300.
BRACKET = Bracket(D("0.00100"), D("71000.00"), D("68000.00"), D("67300.00"), trailing=False)


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(balances={"USDT": "10000", "BTC": "0.00100"}) as exchange:
        yield exchange


def run(fake: FakeBinance, go: Callable[[OrderLists], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        with trio.fail_after(20):
            client = make_client(fake)
            await client.call("load_markets", priority=3)  # type: ignore[arg-type]
            options = {"settle_s": 0.6, "poll_s": 0.05, "max_poll_s": 0.1, **kw}
            return await go(OrderLists(client, **options))

    return trio.run(main)


def ids(n: int = 1) -> ListIds:
    return ListIds.new(OrderIds("tb-t-", n))


def test_three_new_ids_a_list_never_the_same_twice() -> None:
    seq = OrderIds("tb-t-", 7)
    first, second = ListIds.new(seq), ListIds.new(seq)
    every = [*vars_of(first), *vars_of(second)]
    assert len(set(every)) == 6 and first.list_id == "tb-t-7"


def vars_of(x: ListIds) -> list[str]:
    return [x.list_id, x.above, x.below]


def test_a_list_rests_under_our_ids_and_locks_the_coins(fake: FakeBinance) -> None:
    mine = ids()
    placed = run(fake, lambda lists: lists.place(SYMBOL, BRACKET, mine))
    assert placed.client_id == mine.list_id and placed.status == "EXEC_STARTED"
    assert set(placed.leg_ids) == {mine.above, mine.below} and not placed.over
    assert fake.locked["BTC"] == D("0.001") and fake.balances["BTC"] == 0
    legs = {o.client_id: o for o in fake.order_lists[mine.list_id].legs}
    assert legs[mine.above].type == "LIMIT_MAKER" and legs[mine.above].price == D("71000")
    below = legs[mine.below]
    assert (below.type, below.stop_price, below.price) == (
        "STOP_LOSS_LIMIT",
        D("68000"),
        D("67300"),
    )


def test_a_take_profit_that_would_match_at_once_is_refused_with_binances_words(
    fake: FakeBinance,
) -> None:
    fake.bid_over_last = D("1500")  # the best bid at 71500: the take-profit would take
    with pytest.raises(ListRefused, match="Order would immediately match and take"):
        run(fake, lambda lists: lists.place(SYMBOL, BRACKET, ids()))
    assert fake.order_lists == {} and fake.balances["BTC"] == D("0.001")


def test_an_answer_lost_after_placing_is_found_by_the_lagging_query_and_not_sent_again(
    fake: FakeBinance,
) -> None:
    fake.faults.append(Fault(503, "POST", "/api/v3/orderList/oco", applied=True, visible_s=0.3))
    mine = ids()
    placed = run(fake, lambda lists: lists.place(SYMBOL, BRACKET, mine))
    assert placed.client_id == mine.list_id
    assert fake.create_requests == [mine.list_id]  # sent once


def test_an_answer_lost_before_placing_is_shown_absent_after_the_lag_never_resent(
    fake: FakeBinance,
) -> None:
    fake.faults.append(Fault(503, "POST", "/api/v3/orderList/oco"))
    with pytest.raises(ListRefused, match="shows no list"):
        run(fake, lambda lists: lists.place(SYMBOL, BRACKET, ids()))
    assert (
        fake.create_requests == [] and fake.requests.count(("POST", "/api/v3/orderList/oco")) == 1
    )


def test_a_list_the_exchange_cannot_be_asked_about_stays_in_doubt(fake: FakeBinance) -> None:
    fake.faults.append(Fault(503, "POST", "/api/v3/orderList/oco"))
    fake.faults.append(Fault(503, "GET", "/api/v3/orderList", count=10_000))
    with pytest.raises(ListInDoubt):
        run(fake, lambda lists: lists.place(SYMBOL, BRACKET, ids()), settle_s=0.1)


def test_a_cancel_ends_the_list_and_frees_the_coins_and_a_second_finds_nothing(
    fake: FakeBinance,
) -> None:
    mine = ids()

    async def go(lists: OrderLists) -> tuple[Any, Any, Any]:
        await lists.place(SYMBOL, BRACKET, mine)
        await trio.sleep(fake.query_lag_s + 0.05)
        cancelled = await lists.cancel(SYMBOL, mine.list_id)
        again = await lists.cancel(SYMBOL, mine.list_id)
        return cancelled, again, await lists.query(SYMBOL, mine.list_id)

    cancelled, again, queried = run(fake, go)
    assert cancelled.over and cancelled.status == "ALL_DONE" and again is None
    assert queried.over and fake.balances["BTC"] == D("0.001") and fake.locked["BTC"] == 0


def test_open_lists_are_ours_by_prefix_and_a_filled_leg_shows_its_execution(
    fake: FakeBinance,
) -> None:
    mine = ids()

    async def go(lists: OrderLists) -> tuple[Any, Any, Any]:
        await lists.place(SYMBOL, BRACKET, mine)
        await trio.sleep(fake.query_lag_s + 0.05)
        open_before = await lists.open_lists("tb-t-")
        theirs = await lists.open_lists("tb-other-")
        fake.set_price("BTCUSDT", "71000.00")  # the take-profit leg fills at its price
        found = await lists.query(SYMBOL, mine.list_id)
        legs = await lists.legs(SYMBOL, found.leg_ids)  # type: ignore[union-attr]
        return open_before, theirs, (found, legs)

    open_before, theirs, (found, legs) = run(fake, go)
    assert [x.client_id for x in open_before] == [mine.list_id] and theirs == []
    assert found.over
    by_id = {o.client_id: o for o in legs}
    assert by_id[mine.above].status is OrderStatus.FILLED
    assert by_id[mine.above].filled == D("0.001") and by_id[mine.above].cost == D("71")
    assert by_id[mine.below].status in (OrderStatus.EXPIRED, OrderStatus.CANCELED)


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        (None, "not an object"),
        ({"listStatusType": "EXEC_STARTED"}, "no listClientOrderId"),
        (
            {"listStatusType": "MAYBE", "listClientOrderId": "x", "symbol": "S", "orders": []},
            "unknown listStatusType",
        ),
        (
            {"listStatusType": "ALL_DONE", "listClientOrderId": "x", "symbol": "S", "orders": [1]},
            "no clientOrderId",
        ),
    ],
)
def test_an_order_list_of_the_wrong_shape_is_named(raw: Any, what: str) -> None:
    with pytest.raises(MalformedReport, match=what):
        parse_order_list(raw)


def test_a_leg_that_fills_while_the_cancel_is_on_its_way_is_what_the_exchange_shows(
    fake: FakeBinance,
) -> None:
    mine = ids()

    async def go(lists: OrderLists) -> tuple[Any, Any, Any]:
        await lists.place(SYMBOL, BRACKET, mine)
        await trio.sleep(fake.query_lag_s + 0.05)
        # The price crosses the take-profit as the cancel leaves: Binance fills the leg
        # first, and the cancel finds no open list.
        fake.set_price("BTCUSDT", "71000.00")
        cancelled = await lists.cancel(SYMBOL, mine.list_id)
        found = await lists.query(SYMBOL, mine.list_id)
        return cancelled, found, await lists.legs(SYMBOL, found.leg_ids)  # type: ignore[union-attr]

    cancelled, found, legs = run(fake, go)
    assert cancelled is None and found.over
    filled = [o for o in legs if o.status is OrderStatus.FILLED]
    assert [o.client_id for o in filled] == [mine.above] and filled[0].filled == D("0.001")
    assert fake.balances["BTC"] == 0 and fake.locked.get("BTC", D(0)) == 0


def test_legs_the_lagging_query_does_not_show_yet_are_none_then_their_orders(
    fake: FakeBinance,
) -> None:
    mine = ids()
    fake.query_lag_s = 0.3

    async def go(lists: OrderLists) -> tuple[Any, Any]:
        await lists.place(SYMBOL, BRACKET, mine)
        early = await lists.legs(SYMBOL, (mine.below, mine.above))
        await trio.sleep(fake.query_lag_s + 0.05)
        return early, await lists.legs(SYMBOL, (mine.below, mine.above))

    early, later = run(fake, go)
    assert early is None
    assert [o.client_id for o in later] == [mine.below, mine.above]
    assert all(o.status is OrderStatus.OPEN and o.filled == 0 for o in later)
