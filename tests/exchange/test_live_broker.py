"""The ccxt live broker against the fake Binance: real ccxt, every fault, nothing lost, and
no order ever sent twice."""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal as D
from typing import Any

import ccxt
import pytest
import trio

from tests.fake_exchange import ApiError, FakeBinance
from tradebot_tui.core.orders import (
    BrokerEvent,
    Fill,
    OrderClosed,
    OrderIntent,
    OrderStatus,
    OutcomeUnknown,
    Purpose,
    Side,
    Unexplained,
)
from tradebot_tui.exchange.ccxt_broker import CcxtBroker, wall_ms
from tradebot_tui.exchange.ccxt_markets import make_exchange, market_rules
from tradebot_tui.exchange.client import ExchangeClient
from tradebot_tui.exchange.reports import Balance
from tradebot_tui.exchange.resilience import CircuitBreaker, WeightBudget


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


def make_client(
    fake: FakeBinance, *, timeout_s: float = 1.0, threshold: int = 50
) -> ExchangeClient:
    exchange = make_exchange(
        "binance", rest_url=fake.rest_url, timeout_s=timeout_s, api_key="key-1", secret="sec-2"
    )
    return ExchangeClient(
        exchange,
        budget=WeightBudget(60_000),
        breaker=CircuitBreaker(threshold, 1.0),
        timeout_s=timeout_s,
        retries=4,
        backoff_base_s=0.02,
        backoff_cap_s=0.2,
        rng=random.Random(1),
    )


def buy(cid: str = "tb-t-BTCUSDT-1", qty: str = "0.00100") -> OrderIntent:
    return OrderIntent(cid, "BTC/USDT", Side.BUY, Purpose.ENTRY, D(qty), D("70000"), 1000)


def run(fn: Callable[[], Awaitable[Any]], limit: float = 20.0) -> Any:
    async def main() -> Any:
        with trio.fail_after(limit):
            return await fn()

    return trio.run(main)


def make_broker(client: ExchangeClient, **kw: Any) -> CcxtBroker:
    """A broker with the test's short intervals; the fake's query lag is 0.2 s."""
    options: dict[str, Any] = {"poll_s": 0.05, "max_poll_s": 0.1, "settle_s": 1.0, **kw}
    markets = client.exchange.markets or {}
    return CcxtBroker(
        client,
        D("0.001"),
        rules=lambda s: market_rules(markets[s]) if s in markets else None,
        **options,
    )


def follow(fake: FakeBinance, intent: OrderIntent, **kw: Any) -> list[BrokerEvent]:
    events: list[BrokerEvent] = []

    async def go() -> None:
        client = make_client(fake)
        await client.call("load_markets", priority=3)  # type: ignore[arg-type]
        await make_broker(client, **kw).follow(intent, events.append)

    run(go)
    return events


def sent_once(fake: FakeBinance, cid: str) -> None:
    """The id reached the exchange once, as one order, and no create request was repeated."""
    assert fake.create_requests.count(cid) == 1
    assert len(fake.orders_of(cid)) == 1
    assert fake.requests.count(("POST", "/api/v3/order")) == 1


def fills(events: list[BrokerEvent]) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill)]


def closure(events: list[BrokerEvent]) -> OrderClosed:
    closed = [e for e in events if isinstance(e, OrderClosed)]
    assert len(closed) == 1, events
    assert events[-1] is closed[0]
    return closed[0]


def exchange_fills(fake: FakeBinance, cid: str) -> tuple[D, D, D]:
    order = fake.orders[cid]
    fee = sum((D(f["commission"]) for f in order.fills), D(0))
    return order.executed, order.quote, fee


def check_matches_exchange(fake: FakeBinance, cid: str, events: list[BrokerEvent]) -> None:
    """What we booked equals what the exchange did, to the last digit."""
    qty, value, _ = exchange_fills(fake, cid)
    order = fake.orders[cid]
    ours = fills(events)
    assert sum((f.executed_qty for f in ours), D(0)) == qty
    assert sum((f.executed_qty * f.price for f in ours), D(0)) == value
    base = fake.markets[order.symbol].base
    commission_value = sum(
        (
            D(f["commission"]) * (D(f["price"]) if f["commissionAsset"] == base else 1)
            for f in order.fills
        ),
        D(0),
    )
    assert sum((f.fee for f in ours), D(0)) == commission_value
    commission_qty = sum(
        (D(f["commission"]) for f in order.fills if f["commissionAsset"] == base), D(0)
    )
    assert sum((f.qty for f in ours), D(0)) == qty - commission_qty
    sent_once(fake, cid)


def test_market_order_fills_with_the_exchange_fee(fake: FakeBinance) -> None:
    events = follow(fake, buy())
    assert closure(events).status is OrderStatus.FILLED
    [fill] = fills(events)
    assert (fill.qty, fill.price, fill.fee) == (D("0.001"), D("70000"), D("0.07"))
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)
    assert fake.api_key_seen == {"key-1"}
    assert fake.balances["BTC"] == D("0.001")


def test_partial_then_delayed_fill(fake: FakeBinance) -> None:
    fake.fill_mode = "partial"
    fake.fill_delay_s = 0.2
    events = follow(fake, buy(qty="0.01000"))
    assert [f.qty for f in fills(events)] == [D("0.004"), D("0.006")]
    assert closure(events).status is OrderStatus.FILLED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)


def test_delayed_fill_is_followed_by_polling(fake: FakeBinance) -> None:
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.3
    events = follow(fake, buy())
    assert closure(events).status is OrderStatus.FILLED
    assert sum(f.qty for f in fills(events)) == D("0.001")
    assert fake.requests.count(("GET", "/api/v3/order")) >= 2
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)


def test_partial_fill_then_expiry(fake: FakeBinance) -> None:
    fake.fill_mode = "partial_then_expire"
    events = follow(fake, buy(qty="0.01000"))
    assert [f.qty for f in fills(events)] == [D("0.004")]
    assert closure(events).status is OrderStatus.EXPIRED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)


def test_order_still_open_at_the_timeout_is_cancelled(fake: FakeBinance) -> None:
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 60
    events = follow(fake, buy(), order_timeout_s=0.3)
    assert closure(events).status is OrderStatus.CANCELED
    assert fills(events) == []
    assert fake.orders["tb-t-BTCUSDT-1"].status == "CANCELED"


def test_reject_is_final_and_fills_nothing(fake: FakeBinance) -> None:
    fake.fill_mode = "reject"
    events = follow(fake, buy())
    closed = closure(events)
    assert closed.status is OrderStatus.REJECTED
    assert "InsufficientFunds" in closed.message
    assert fills(events) == [] and fake.orders == {}
    assert fake.requests.count(("POST", "/api/v3/order")) == 1


@pytest.mark.parametrize("kind", ["timeout", "drop", "malformed", 500, 502, 503, "-1007"])
def test_answer_lost_after_the_order_was_placed(fake: FakeBinance, kind: str | int) -> None:
    """The exchange took the order, answered an error, and shows the order only later
    (Binance: execution status unknown): settled by lookups, never sent again."""
    fake.inject(kind, method="POST", path="/api/v3/order", applied=True, delay=1.5, visible_s=0.6)
    events = follow(fake, buy())
    assert closure(events).status is OrderStatus.FILLED
    [unknown] = [e for e in events if isinstance(e, OutcomeUnknown)]
    assert events.index(unknown) == 0  # said before anything else happened
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)


@pytest.mark.parametrize("kind", ["timeout", "drop", 502, "-1007"])
def test_an_order_that_never_arrived_is_never_sent_again(
    fake: FakeBinance, kind: str | int
) -> None:
    """Not found by its id over the settle window, nor among the account's orders and
    trades: the intent fails; the same order is not sent a second time."""
    fake.inject(kind, method="POST", path="/api/v3/order", applied=False, delay=1.5)
    events = follow(fake, buy())
    closed = closure(events)
    assert closed.status is OrderStatus.FAILED
    assert "shows no such order" in closed.message
    assert fake.requests.count(("POST", "/api/v3/order")) == 1
    assert fake.history == [] and fills(events) == []
    assert fake.requests.count(("GET", "/api/v3/allOrders")) == 1  # the account was searched


def test_lookups_that_fail_go_on_until_the_exchange_answers(fake: FakeBinance) -> None:
    """While the exchange cannot say whether the order exists, nothing is concluded."""
    fake.inject(503, method="POST", path="/api/v3/order", applied=True)
    fake.inject(503, method="GET", path="/api/v3/order", count=12)  # past the settle window
    events = follow(fake, buy())
    assert closure(events).status is OrderStatus.FILLED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)


def test_an_order_query_that_lags_entry_is_asked_again(fake: FakeBinance) -> None:
    """Binance's order query can answer "does not exist" right after the entry."""
    fake.query_lag_s = 0.5
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.2
    events = follow(fake, buy())
    assert closure(events).status is OrderStatus.FILLED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)


@pytest.mark.parametrize("status", [429, 418])
def test_rate_limits_pause_every_call_for_retry_after(fake: FakeBinance, status: int) -> None:
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.1
    fake.inject(status, method="GET", path="/api/v3/order", retry_after=1)
    started = [0.0]
    events: list[BrokerEvent] = []

    async def go() -> float:
        client = make_client(fake)
        await client.call("load_markets", priority=3)  # type: ignore[arg-type]
        broker = CcxtBroker(client, D("0.001"), poll_s=0.05, max_poll_s=0.1)
        started[0] = trio.current_time()
        await broker.follow(buy(), events.append)
        return trio.current_time() - started[0]

    took = run(go)
    assert took >= 0.9  # waited out the Retry-After before asking again
    assert closure(events).status is OrderStatus.FILLED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)


def test_binance_takes_a_reused_id_as_a_new_order_once_the_first_is_over(
    fake: FakeBinance,
) -> None:
    """The fake is as mean as Binance: an id is unique among open orders only."""
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.00100"}
    with fake.lock:
        fake.fill_mode = "delayed"
        fake.fill_delay_s = 60
        fake.create_order({**order, "newClientOrderId": "x-1"})
        with pytest.raises(ApiError, match="Duplicate order sent"):
            fake.create_order({**order, "newClientOrderId": "x-1"})  # the first is open
        fake.fill_mode = "full"
        fake.create_order({**order, "newClientOrderId": "x-2"})
        fake.create_order({**order, "newClientOrderId": "x-2"})  # the first is filled: taken
    assert [o.status for o in fake.orders_of("x-2")] == ["FILLED", "FILLED"]
    assert fake.balances["BTC"] == D("0.002")  # two real buys


def test_a_restart_settles_an_order_and_never_sends_it(fake: FakeBinance) -> None:
    """An order journaled but whose fate the journal does not know: looked up, the fills
    the exchange made reported once, nothing sent (a resend would be a second buy)."""
    fake.place("tb-t-BTCUSDT-1")
    events: list[BrokerEvent] = []

    async def go() -> None:
        client = make_client(fake)
        await client.call("load_markets", priority=3)  # type: ignore[arg-type]
        await make_broker(client).recover(buy(), events.append, [], wall_ms() - 1000)

    run(go)
    assert closure(events).status is OrderStatus.FILLED
    assert fake.requests.count(("POST", "/api/v3/order")) == 0
    assert sum(f.executed_qty for f in fills(events)) == D("0.001")


def test_duplicate_order_sent_is_verified_never_assumed(fake: FakeBinance) -> None:
    """The id is taken by an open order that is not this intent (another amount): the
    intent fails loudly with both figures, and nothing of it is counted as ours."""
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 60
    fake.place("tb-t-BTCUSDT-1", "0.00500")
    events = follow(fake, buy())
    [unexplained] = [e for e in events if isinstance(e, Unexplained)]
    assert "amount" in unexplained.message
    assert "buy 0.005 BTC/USDT" in unexplained.message  # theirs
    assert "buy 0.001 BTC/USDT" in unexplained.message  # ours
    assert closure(events).status is OrderStatus.FAILED
    assert fills(events) == [] and len(fake.orders_of("tb-t-BTCUSDT-1")) == 1


def test_an_order_created_before_the_intent_is_not_adopted(fake: FakeBinance) -> None:
    fake.place("tb-t-BTCUSDT-1")
    events: list[BrokerEvent] = []

    async def go() -> None:
        client = make_client(fake)
        await client.call("load_markets", priority=3)  # type: ignore[arg-type]
        # Journaled a minute after the order on the exchange was created: not this intent.
        await make_broker(client).recover(buy(), events.append, [], wall_ms() + 60_000)

    run(go)
    [unexplained] = [e for e in events if isinstance(e, Unexplained)]
    assert "created before the intent" in unexplained.message
    assert closure(events).status is OrderStatus.FAILED and fills(events) == []


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        ("9000001", "LOT_SIZE"),  # above maxQty (ccxt rounds amounts to the step itself)
        ("0.00005", "NOTIONAL"),  # 3.5 USDT < 5
        ("1.00000", "insufficient balance"),  # 70,000 USDT > 10,000
    ],
)
def test_what_binance_refuses_is_final_and_sent_once(
    fake: FakeBinance, quantity: str, error: str
) -> None:
    events = follow(fake, buy(qty=quantity))
    closed = closure(events)
    assert closed.status is OrderStatus.REJECTED and error in closed.message
    assert fake.requests.count(("POST", "/api/v3/order")) == 1
    assert fake.balances["USDT"] == D("10000") and not fake.locked.get("USDT")


def test_a_clock_off_the_exchanges_is_measured_and_the_refused_order_sent_once_more(
    fake: FakeBinance,
) -> None:
    """-1021 (timestamp outside recvWindow): nothing was done; the clock is measured again
    and the order sent once more, under the same id. The header shows the drift."""
    fake.clock_offset_ms = -15_000  # the exchange's clock is 15 s behind ours

    async def go() -> tuple[list[BrokerEvent], str]:
        events: list[BrokerEvent] = []
        client = make_client(fake)
        await client.call("load_markets", priority=3)  # type: ignore[arg-type]
        await make_broker(client).follow(buy(), events.append)
        return events, client.circuit_text()

    events, header = run(go)
    assert closure(events).status is OrderStatus.FILLED
    assert fake.create_requests == ["tb-t-BTCUSDT-1"]  # the refused one never counted
    assert fake.requests.count(("POST", "/api/v3/order")) == 2
    assert "clock +15.0s off" in header


def test_the_used_weight_header_corrects_the_budget(fake: FakeBinance) -> None:
    async def go() -> tuple[int, float, float]:
        client = make_client(fake)
        client.budget = WeightBudget(30)  # our share: 30 a minute
        await client.call("load_markets", priority=3)  # type: ignore[arg-type]
        return client.used_weight, client.budget.tokens, client.budget.paused_for

    used, tokens, paused = run(go)
    assert used == fake.weight_used >= 20  # exchangeInfo weighs 20
    assert paused > 0 or tokens <= 30 - used  # never more than what is left this minute


def test_a_418_ban_is_honoured_in_full(fake: FakeBinance) -> None:
    """Binance bans for 2 minutes to 3 days: a Retry-After of 10 minutes is kept whole."""
    fake.inject(418, method="GET", path="/api/v3/ticker", retry_after=600)

    async def go() -> float:
        client = make_client(fake)
        with pytest.raises(ccxt.DDoSProtection):
            await client.call("fetch_ticker", "BTC/USDT", priority=4, retry=False)  # type: ignore[arg-type]
        return client.budget.paused_for

    assert 590 < run(go) <= 600


def test_signed_requests_with_a_wrong_secret_are_refused(fake: FakeBinance) -> None:
    async def go() -> None:
        exchange = make_exchange(
            "binance", rest_url=fake.rest_url, timeout_s=1, api_key="key-1", secret="wrong"
        )
        client = ExchangeClient(exchange, budget=WeightBudget(60_000), timeout_s=1)
        with pytest.raises(ccxt.AuthenticationError, match="Signature"):
            await client.call("fetch_balance", priority=3)  # type: ignore[arg-type]

    run(go)


def test_market_rules_come_from_the_exchange(fake: FakeBinance) -> None:
    async def go() -> Any:
        client = make_client(fake)
        return await client.call("load_markets", priority=3)  # type: ignore[arg-type]

    markets = run(go)
    rules = market_rules(markets["ETH/USDT"])
    assert (rules.qty_step, rules.price_tick, rules.min_notional) == (
        D("0.0001"),
        D("0.01"),
        D("5"),
    )
    assert rules.below_minimum(D("0.001"), D("2000")) is not None  # 2 USDT < 5


def test_no_call_moves_funds_off_the_exchange() -> None:
    from pathlib import Path

    import tradebot_tui

    package = Path(tradebot_tui.__file__).parent
    # A call or a method name in a string (getattr, client.call): never either. The one
    # wallet call is the conversion of dust to BNB on the account itself, and its log
    # (exchange/dust_convert.py), whose answers name their fields "transfer…".
    calls = re.compile(
        r"(withdraw|transfer)\w*\s*\(|[\'\"](withdraw|transfer)\w*[\'\"]|sapi\w*", re.I
    )
    allowed = {
        "dust_convert.py": {
            "sapi",  # its endpoints' paths, in its docstring
            "sapi_post_asset_dust",
            "sapi_get_asset_dribblet",
            '"transferResult"',
            '"transferedAmount"',
        },
        "client.py": {"sapi_post_asset_dust", "sapi_get_asset_dribblet"},  # their weights
    }
    for path in package.rglob("*.py"):
        found = {m.group(0) for m in calls.finditer(path.read_text())}
        assert found <= allowed.get(path.name, set()), f"{path}: {sorted(found)}"


def test_balances_and_one_call_in_flight_per_client(fake: FakeBinance) -> None:
    fake.inject("timeout", path="/api/v3/ticker", count=3, delay=0.3)

    async def go() -> dict[str, Balance]:
        client = make_client(fake, timeout_s=2.0)
        broker = CcxtBroker(client, D("0.001"))
        async with trio.open_nursery() as nursery:
            for _ in range(3):  # three slow calls at once: the client lets one out at a time
                nursery.start_soon(
                    lambda: client.call("fetch_ticker", "BTC/USDT", priority=4)  # type: ignore[arg-type]
                )
        return await broker.balances()

    balances = run(go)
    assert fake.max_in_flight == 1
    assert balances == {"USDT": Balance(D("10000"), D("0"))}


def test_quote_paper_broker_fills_at_bid_and_ask_in_slices() -> None:
    from tradebot_tui.core.market import MarketRules
    from tradebot_tui.exchange.base import QuoteBook
    from tradebot_tui.exchange.paper import QuotePaperBroker

    quotes = QuoteBook()
    quotes.update("BTC/USDT", 69990.0, 70010.0, 1)
    rules = MarketRules("BTC/USDT", qty_step=D("0.00001"))
    broker = QuotePaperBroker(D("0.001"), quotes, lambda s: rules, latency_s=0.05, slices=3)
    events: list[BrokerEvent] = []

    async def go() -> float:
        start = trio.current_time()
        await broker.follow(buy(qty="0.00100"), events.append)
        sell = OrderIntent("s-1", "BTC/USDT", Side.SELL, Purpose.EXIT, D("0.001"), D("7e4"), 2)
        await broker.follow(sell, events.append)
        return trio.current_time() - start

    took = run(go)
    buys = [f for f in fills(events) if f.client_id == "tb-t-BTCUSDT-1"]
    assert [f.qty for f in buys] == [D("0.00033"), D("0.00033"), D("0.00034")]
    assert {f.price for f in buys} == {D("70010.0")}
    assert {f.price for f in fills(events) if f.client_id == "s-1"} == {D("69990.0")}
    assert took >= 0.1  # latency before each order


@pytest.mark.parametrize("mode", ["full", "delayed", "partial"])
def test_commission_in_the_coin_bought_is_not_counted_as_held(fake: FakeBinance, mode: str) -> None:
    """Binance takes a buy's commission from the coin: we hold what arrived, exactly."""
    fake.base_fee_on_buy = True
    fake.fill_mode = mode
    fake.fill_delay_s = 0.1
    events = follow(fake, buy(qty="0.01000"))
    assert closure(events).status is OrderStatus.FILLED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)
    assert sum((f.qty for f in fills(events)), D(0)) == fake.balances["BTC"] == D("0.00999")
    assert sum((f.commission_qty for f in fills(events)), D(0)) == D("0.00001")


def test_a_filled_order_waits_for_its_trades_then_says_its_fee_is_estimated(
    fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    # The trade list lags the order on its own (the fake's `trade_lag_s`). A filled order
    # has no next fill to correct an estimate with: its trades are waited for, up to
    # settle_s (1 s here); a trade list that still lags after that is said so, and the
    # commission estimated at the fee rate (the fake's rate: the same figure here).
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.1
    fake.trade_lag_s = 0.6  # within the wait: the real commission
    events = follow(fake, buy())
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)
    assert "estimated" not in caplog.text
    fake.trade_lag_s = 60.0  # beyond it
    events = follow(fake, buy("tb-t-BTCUSDT-2"))
    assert closure(events).status is OrderStatus.FILLED
    [fill] = fills(events)
    assert fill.fee == fill.qty * fill.price * D("0.001")
    assert "tb-t-BTCUSDT-2: its trades are not in the trade list after 1 s" in caplog.text


def test_an_execution_of_an_older_order_is_explained_not_guessed(fake: FakeBinance) -> None:
    """While an order's fate is searched, the account shows a trade of an order created
    before the search window (a long-open order): it is looked up by its order id and,
    being another order, does not stop the conclusion that ours was never placed."""
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.3
    fake.clock_offset_ms = -120_000  # created two minutes ago, by the exchange's clock
    fake.place("web_manual_1")
    fake.clock_offset_ms = 0
    fake.inject("drop", method="POST", path="/api/v3/order", applied=False)
    events = follow(fake, buy())
    closed = closure(events)
    assert closed.status is OrderStatus.FAILED and "shows no such order" in closed.message
    assert fake.orders["web_manual_1"].status == "FILLED"  # its trade was in the window
    assert fake.requests.count(("POST", "/api/v3/order")) == 1
