"""The fake Binance's order lists (OCO), as Binance's spot API documentation describes them,
surprising parts included. Requests go through ccxt's signed calls of the documented
endpoints (`POST /api/v3/orderList/oco`, `DELETE /api/v3/orderList`, `GET /api/v3/orderList`,
`GET /api/v3/openOrderList`), as the bot's own would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import ccxt
import pytest

from tests.fake_exchange import FakeBinance, Market


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    sol = Market("SOL", "USDT", D("150.00"), step="0.00100000", min_qty="0.00100000")
    with FakeBinance({"SOLUSDT": sol}, balances={"USDT": "1000", "SOL": "2"}) as exchange:
        exchange.query_lag_s = 0.0
        yield exchange


@pytest.fixture
def client(fake: FakeBinance) -> Any:
    exchange = ccxt.binance({"apiKey": "key-1", "secret": "sec-2", "enableRateLimit": False})
    exchange.urls["api"] = {k: f"{fake.rest_url}/api/v3" for k in ("public", "private")}
    exchange.options["adjustForTimeDifference"] = False
    return exchange


def oco(client: Any, **kw: str) -> Any:
    """A sell OCO on SOL at 150: take-profit 153, stop 147 with its limit at 146."""
    params = {
        "symbol": "SOLUSDT",
        "side": "SELL",
        "quantity": "1.000",
        "aboveType": "LIMIT_MAKER",
        "abovePrice": "153.00",
        "aboveClientOrderId": "tb-t-SOLUSDT-2",
        "belowType": "STOP_LOSS_LIMIT",
        "belowStopPrice": "147.00",
        "belowPrice": "146.00",
        "belowTimeInForce": "GTC",
        "belowClientOrderId": "tb-t-SOLUSDT-3",
        "listClientOrderId": "tb-t-SOLUSDT-L1",
        **kw,
    }
    return client.privatePostOrderListOco(params)


def refused(client: Any, **kw: str) -> str:
    with pytest.raises(ccxt.BaseError) as caught:
        oco(client, **kw)
    return str(caught.value)


def legs(fake: FakeBinance) -> dict[str, tuple[str, D]]:
    return {o.type: (o.status, o.executed) for o in fake.history if o.list_id >= 0}


def test_an_oco_rests_both_legs_and_locks_the_coins_once(fake: FakeBinance, client: Any) -> None:
    answer = oco(client)
    assert answer["listStatusType"] == "EXEC_STARTED"
    assert answer["listOrderStatus"] == "EXECUTING"
    assert answer["listClientOrderId"] == "tb-t-SOLUSDT-L1"
    below, above = answer["orderReports"]  # the stop first, as Binance lists them
    assert (below["type"], below["stopPrice"], below["price"]) == (
        "STOP_LOSS_LIMIT",
        "147.00",
        "146.00",
    )
    assert below["workingTime"] == -1 and not below["isWorking"]  # not triggered yet
    assert (above["type"], above["price"], above["clientOrderId"]) == (
        "LIMIT_MAKER",
        "153.00",
        "tb-t-SOLUSDT-2",
    )
    assert fake.balances["SOL"] == D(1) and fake.locked["SOL"] == D(1)
    [listed] = client.privateGetOpenOrderList({})
    assert listed["orderListId"] == answer["orderListId"]
    # Each leg is an order like any other, queried by its own client id.
    leg = client.privateGetOrder({"symbol": "SOLUSDT", "origClientOrderId": "tb-t-SOLUSDT-3"})
    assert leg["orderListId"] == answer["orderListId"] and leg["status"] == "NEW"


def test_the_price_relationship_is_checked_against_the_last_price(
    fake: FakeBinance, client: Any
) -> None:
    wrong = "The relationship of the prices for the orders is not correct."
    assert wrong in refused(client, abovePrice="149.00")  # take-profit below the last price
    assert wrong in refused(client, belowStopPrice="151.00")  # stop above it
    assert wrong in refused(client, abovePrice="150.00")  # equal is not above
    assert fake.order_lists == {} and fake.locked.get("SOL", D(0)) == 0


def test_a_limit_maker_that_would_take_against_the_bid_is_refused(
    fake: FakeBinance, client: Any
) -> None:
    fake.bid_over_last = D("3.50")  # the book moved past the last trade: bid 153.50
    assert "Order would immediately match and take." in refused(client)
    fake.bid_over_last = D("2.99")  # bid 152.99: 153 rests
    assert oco(client)["listOrderStatus"] == "EXECUTING"


def test_filters_and_balance_apply_to_every_leg(fake: FakeBinance, client: Any) -> None:
    assert "PRICE_FILTER" in refused(client, belowPrice="146.005")
    assert "LOT_SIZE" in refused(client, quantity="1.0005")
    assert "NOTIONAL" in refused(client, quantity="0.030")  # 0.03 * 146 = 4.38 < 5
    assert "insufficient balance" in refused(client, quantity="3.000")
    assert fake.order_lists == {}


def test_list_and_leg_ids_are_unique_among_open_ones_only(fake: FakeBinance, client: Any) -> None:
    oco(client)
    assert "Duplicate order sent." in refused(
        client, aboveClientOrderId="a-1", belowClientOrderId="b-1", quantity="0.500"
    )  # the list id is open
    assert "Duplicate order sent." in refused(
        client, listClientOrderId="L2", belowClientOrderId="b-1", quantity="0.500"
    )  # the above leg's id is open
    fake.set_price("SOLUSDT", "153.00")  # the take-profit fills: the list is over
    again = oco(client, quantity="0.500", abovePrice="155.00")  # every id reused, accepted
    assert again["listOrderStatus"] == "EXECUTING"
    assert len([x for x in fake.list_history if x.client_id == "tb-t-SOLUSDT-L1"]) == 2


def test_the_take_profit_fills_at_its_price_and_the_stop_leg_expires(
    fake: FakeBinance, client: Any
) -> None:
    oco(client)
    fake.set_price("SOLUSDT", "152.99")
    assert legs(fake)["LIMIT_MAKER"] == ("NEW", D(0))
    fake.set_price("SOLUSDT", "158.00")  # through it: a maker fills at its own price
    assert legs(fake) == {"LIMIT_MAKER": ("FILLED", D(1)), "STOP_LOSS_LIMIT": ("EXPIRED", D(0))}
    [fill] = fake.orders["tb-t-SOLUSDT-2"].fills
    assert fill["price"] == "153.00"
    assert fake.locked["SOL"] == 0 and fake.balances["USDT"] == D(1000) + D("152.847")
    listed = client.privateGetOrderList({"origClientOrderId": "tb-t-SOLUSDT-L1"})
    assert listed["listStatusType"] == listed["listOrderStatus"] == "ALL_DONE"
    assert client.privateGetOpenOrderList({}) == []


def test_a_stop_within_its_limit_sells_at_the_market_and_expires_the_take_profit(
    fake: FakeBinance, client: Any
) -> None:
    oco(client)
    fake.set_price("SOLUSDT", "146.50")  # through the stop, above the limit
    assert legs(fake) == {"LIMIT_MAKER": ("EXPIRED", D(0)), "STOP_LOSS_LIMIT": ("FILLED", D(1))}
    assert fake.orders["tb-t-SOLUSDT-3"].fills[0]["price"] == "146.50"


def test_a_gap_through_the_stop_limit_leaves_it_resting_unfilled(
    fake: FakeBinance, client: Any
) -> None:
    oco(client)
    fake.set_price("SOLUSDT", "140.00")  # triggered, but below its limit of 146
    assert legs(fake) == {"LIMIT_MAKER": ("EXPIRED", D(0)), "STOP_LOSS_LIMIT": ("NEW", D(0))}
    leg = client.privateGetOrder({"symbol": "SOLUSDT", "origClientOrderId": "tb-t-SOLUSDT-3"})
    assert leg["isWorking"] and leg["status"] == "NEW"  # a working limit sell at 146
    assert fake.locked["SOL"] == D(1)  # the coins stay locked: nothing else can sell them
    [listed] = client.privateGetOpenOrderList({})
    assert listed["listOrderStatus"] == "EXECUTING"
    fake.set_price("SOLUSDT", "147.00")  # back above the limit: met at its own price
    assert legs(fake)["STOP_LOSS_LIMIT"] == ("FILLED", D(1))
    assert fake.orders["tb-t-SOLUSDT-3"].fills[0]["price"] == "146.00"


def test_one_leg_partly_filled_expires_the_other_and_the_list_stays_open(
    fake: FakeBinance, client: Any
) -> None:
    fake.leg_partial = D("0.4")
    oco(client)
    fake.set_price("SOLUSDT", "153.00")  # touched, and the price turns back at once
    fake.set_price("SOLUSDT", "152.50")
    # The take-profit filled 0.4 of 1: the stop is gone, 0.6 rests above only.
    assert legs(fake) == {
        "LIMIT_MAKER": ("PARTIALLY_FILLED", D("0.400")),
        "STOP_LOSS_LIMIT": ("EXPIRED", D(0)),
    }
    [listed] = client.privateGetOpenOrderList({})
    assert listed["listStatusType"] == "EXEC_STARTED"
    fake.set_price("SOLUSDT", "140.00")  # a crash now: nothing below protects the rest
    assert legs(fake)["LIMIT_MAKER"] == ("PARTIALLY_FILLED", D("0.400"))
    assert fake.locked["SOL"] == D("0.600")


def test_canceling_the_list_or_one_leg_cancels_both_and_frees_the_coins(
    fake: FakeBinance, client: Any
) -> None:
    oco(client)
    answer = client.privateDeleteOrderList(
        {"symbol": "SOLUSDT", "listClientOrderId": "tb-t-SOLUSDT-L1"}
    )
    assert answer["listOrderStatus"] == "ALL_DONE"
    assert [r["status"] for r in answer["orderReports"]] == ["CANCELED", "CANCELED"]
    assert fake.locked["SOL"] == 0 and fake.balances["SOL"] == D(2)
    with pytest.raises(ccxt.OrderNotFound, match="Unknown order sent"):
        client.privateDeleteOrderList({"symbol": "SOLUSDT", "listClientOrderId": "tb-t-SOLUSDT-L1"})
    oco(client, listClientOrderId="L2", aboveClientOrderId="a2", belowClientOrderId="b2")
    client.privateDeleteOrder({"symbol": "SOLUSDT", "origClientOrderId": "a2"})  # one leg
    assert [o.status for o in fake.order_lists["L2"].legs] == ["CANCELED", "CANCELED"]


def test_a_new_list_is_unknown_to_list_queries_for_a_while(fake: FakeBinance, client: Any) -> None:
    fake.query_lag_s = 0.3
    oco(client)
    with pytest.raises(ccxt.OrderNotFound, match="Order list does not exist"):
        client.privateGetOrderList({"origClientOrderId": "tb-t-SOLUSDT-L1"})
    assert client.privateGetOpenOrderList({}) == []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not client.privateGetOpenOrderList({}):
        time.sleep(0.05)
    assert client.privateGetOrderList({"origClientOrderId": "tb-t-SOLUSDT-L1"})["orderListId"]


def test_a_leg_that_fills_while_the_cancel_is_on_its_way_makes_the_cancel_fail(
    fake: FakeBinance, client: Any
) -> None:
    """The price crosses the take-profit between the bot's decision and its cancel
    reaching the matching engine: the leg is filled first, and the cancel finds nothing
    open (Binance's -2011); the bot must book the fill and sell nothing more."""
    oco(client)
    with fake.lock:
        fake.markets["SOLUSDT"].price = D("153.50")  # traded, not matched yet
    with pytest.raises(ccxt.OrderNotFound, match="Unknown order sent"):
        client.privateDeleteOrderList({"symbol": "SOLUSDT", "listClientOrderId": "tb-t-SOLUSDT-L1"})
    assert legs(fake) == {"LIMIT_MAKER": ("FILLED", D(1)), "STOP_LOSS_LIMIT": ("EXPIRED", D(0))}
    assert fake.locked["SOL"] == 0 and fake.balances["SOL"] == D(1)


def test_the_user_data_stream_reports_legs_and_the_list_as_binance_does(
    fake: FakeBinance, client: Any
) -> None:
    # Binance's user data stream: an executionReport for each leg and a listStatus for the
    # list when it is placed, then the expired leg, the filled one (and the balances it
    # changed), and the list ALL_DONE.
    import json

    import trio
    from trio_websocket import open_websocket_url

    from tradebot_tui.exchange.user_stream import signed_params

    async def main() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws_api)
            async with open_websocket_url(url) as ws:
                params = signed_params("key-1", "sec-2", fake.server_ms())
                await ws.send_message(
                    json.dumps(
                        {"id": 1, "method": "userDataStream.subscribe.signature", "params": params}
                    )
                )
                answer = json.loads(await ws.get_message())
                assert answer["status"] == 200 and "subscriptionId" in answer["result"]
                await trio.to_thread.run_sync(oco, client)
                await trio.to_thread.run_sync(fake.set_price, "SOLUSDT", "158.00")
                with trio.fail_after(5):
                    while not events or events[-1].get("l") != "ALL_DONE":
                        message = json.loads(await ws.get_message())
                        assert message["subscriptionId"] == answer["result"]["subscriptionId"]
                        events.append(message["event"])
            nursery.cancel_scope.cancel()
        return events

    events = trio.run(main)
    seen = [
        (
            e["e"],
            e.get("c") if e["e"] == "executionReport" else e.get("C"),
            e.get("X") or e.get("L"),
        )
        for e in events
        if e["e"] != "outboundAccountPosition"
    ]
    assert seen == [
        ("executionReport", "tb-t-SOLUSDT-3", "NEW"),
        ("executionReport", "tb-t-SOLUSDT-2", "NEW"),
        ("listStatus", "tb-t-SOLUSDT-L1", "EXECUTING"),
        ("executionReport", "tb-t-SOLUSDT-3", "EXPIRED"),
        ("executionReport", "tb-t-SOLUSDT-2", "FILLED"),
        ("listStatus", "tb-t-SOLUSDT-L1", "ALL_DONE"),
    ]
    filled = next(e for e in events if e.get("X") == "FILLED")
    assert (filled["x"], filled["L"], filled["z"], filled["g"]) == ("TRADE", "153.00", "1.000", 1)
    balances = next(e for e in events if e["e"] == "outboundAccountPosition")
    assert {b["a"] for b in balances["B"]} == {"SOL", "USDT"}
