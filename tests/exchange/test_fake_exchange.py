"""The fake Binance itself: as strict as Binance's spot API documentation says it is.

The broker tests prove our code against it; these prove the fake does what the real
service does where that is surprising or strict, so that no test passes because the fake
is kinder than Binance.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.fake_exchange import ApiError, FakeBinance


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


def order(**kw: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.00100", **kw}


def signed(fake: FakeBinance, method: str, path: str, params: dict[str, Any]) -> Any:
    query = urlencode(params)
    signature = hmac.new(b"sec-2", query.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{fake.rest_url}{path}?{query}&signature={signature}",
        method=method,
        headers={"X-MBX-APIKEY": "key-1"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_a_limit_price_off_the_tick_and_an_amount_off_the_step_are_refused(
    fake: FakeBinance,
) -> None:
    with fake.lock:
        with pytest.raises(ApiError, match="PRICE_FILTER"):
            fake.create_order(order(type="LIMIT", price="70000.005"))
        with pytest.raises(ApiError, match="LOT_SIZE"):
            fake.create_order(order(quantity="0.001005"))
        with pytest.raises(ApiError, match="NOTIONAL"):
            fake.create_order(order(quantity="0.00005"))
    assert fake.history == []


def test_open_orders_lock_funds_and_balances_never_go_negative(fake: FakeBinance) -> None:
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 3600
    with fake.lock:
        fake.create_order(order(quantity="0.10000", newClientOrderId="a"))  # 7,007 USDT
        assert fake.locked["USDT"] == D("7007.000")
        with pytest.raises(ApiError, match="insufficient balance"):
            fake.create_order(order(quantity="0.05000", newClientOrderId="b"))  # 3,503.5
    time.sleep(0.25)  # past the query lag: the order can be cancelled
    with fake.lock:
        fake.cancel({"symbol": "BTCUSDT", "origClientOrderId": "a"})
        assert fake.balances["USDT"] == D("10000.000") and fake.locked["USDT"] == 0
        with pytest.raises(ApiError, match="insufficient balance"):
            fake.create_order(order(side="SELL", newClientOrderId="c"))  # no BTC to sell


def test_a_new_order_is_unknown_to_queries_for_a_while(fake: FakeBinance) -> None:
    fake.query_lag_s = 0.5
    with fake.lock:
        fake.create_order(order(newClientOrderId="lagging"))
    now = int(time.time() * 1000)
    status, _, body = signed(
        fake,
        "GET",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "origClientOrderId": "lagging", "timestamp": now},
    )
    assert (status, body["code"]) == (400, -2013)
    time.sleep(0.6)
    status, _, body = signed(
        fake,
        "GET",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "origClientOrderId": "lagging", "timestamp": now + 600},
    )
    assert status == 200 and body["status"] == "FILLED"


def test_timestamps_outside_the_recv_window_and_bad_signatures_are_refused(
    fake: FakeBinance,
) -> None:
    now = int(time.time() * 1000)
    for ts, window in ((now + 1500, 5000), (now - 6000, 5000)):
        status, _, body = signed(
            fake, "GET", "/api/v3/account", {"timestamp": ts, "recvWindow": window}
        )
        assert (status, body["code"]) == (400, -1021)
    status, _, body = signed(
        fake, "GET", "/api/v3/account", {"timestamp": now - 6000, "recvWindow": 10_000}
    )
    assert status == 200
    request = urllib.request.Request(
        f"{fake.rest_url}/api/v3/account?timestamp={now}&signature=00",
        headers={"X-MBX-APIKEY": "key-1"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert json.loads(info.value.read())["code"] == -1022


def test_every_answer_carries_the_used_weight_faults_included(fake: FakeBinance) -> None:
    fake.inject(503, method="GET", path="/api/v3/exchangeInfo")
    weights = []
    for _ in range(2):
        try:
            with urllib.request.urlopen(f"{fake.rest_url}/api/v3/exchangeInfo") as answer:
                weights.append(int(answer.headers["X-MBX-USED-WEIGHT-1M"]))
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
            weights.append(int(exc.headers["X-MBX-USED-WEIGHT-1M"]))
    assert weights == [0, 20]  # the faulted request never reached it; the next weighs 20


def test_an_order_executed_before_a_5xx_appears_only_later(fake: FakeBinance) -> None:
    fake.inject(502, method="POST", path="/api/v3/order", applied=True, visible_s=0.5)
    now = int(time.time() * 1000)
    status, _, _ = signed(
        fake, "POST", "/api/v3/order", {**order(newClientOrderId="x"), "timestamp": now}
    )
    assert status == 502 and fake.orders["x"].status == "FILLED"  # executed all the same
    status, _, _ = signed(fake, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT", "timestamp": now})
    assert status == 200
    assert fake.all_orders({"symbol": "BTCUSDT"}) == []  # not shown yet
