"""Fills pushed by Binance's user data stream (WebSocket API), against the fake Binance:
each fill applied once whichever path reports it first, polling while the stream is down.

The fake pushes an order's executionReport as Binance does: before the REST answer of
an order that fills at once, twice when asked (`user_stream_twice`), on a connection
that drops (`user_stream_drop_after`) or a subscription that ends
(`expire_user_streams`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.exchange.test_live_broker import (
    buy,
    check_matches_exchange,
    closure,
    fills,
    make_broker,
    make_client,
)
from tests.fake_exchange import FakeBinance
from tradebot_tui.core.orders import BrokerEvent, OrderStatus, Side
from tradebot_tui.exchange.reports import FeePaid, MalformedReport
from tradebot_tui.exchange.user_stream import (
    PushedOrders,
    StreamRefused,
    UserStream,
    parse_execution_report,
    signed_params,
)

REPORT = {
    "e": "executionReport",
    "E": 1_700_000_000_100,
    "s": "BTCUSDT",
    "c": "tb-1",
    "S": "BUY",
    "o": "MARKET",
    "q": "0.00100",
    "p": "0",
    "C": "",
    "x": "TRADE",
    "X": "PARTIALLY_FILLED",
    "i": 7,
    "l": "0.00040",
    "z": "0.00040",
    "L": "70000",
    "n": "0.00000040",
    "N": "BTC",
    "T": 1_700_000_000_090,
    "t": 11,
    "O": 1_700_000_000_000,
    "Z": "28.0",
}


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


def run(fn: Callable[[], Awaitable[Any]], limit: float = 20.0) -> Any:
    async def main() -> Any:
        with trio.fail_after(limit):
            return await fn()

    return trio.run(main)


# -- the report and the registry ---------------------------------------------------------------


def test_an_execution_report_is_the_orders_cumulative_state() -> None:
    state = parse_execution_report(REPORT)
    assert (state.client_id, state.market_id, state.side) == ("tb-1", "BTCUSDT", Side.BUY)
    assert state.status is OrderStatus.PARTIALLY_FILLED
    assert (state.filled, state.cost, state.amount) == (D("0.00040"), D("28.0"), D("0.00100"))
    assert state.trade == (11, D("0.00040"), D("0.00000040"), "BTC")
    assert state.price is None  # a market order's "p" is 0
    order = state.order_of(buy("tb-1"))
    assert order is not None and order.average == D("70000")
    # Another symbol or side is not this intent's order.
    assert parse_execution_report({**REPORT, "s": "ETHUSDT"}).order_of(buy("tb-1")) is None
    assert parse_execution_report({**REPORT, "S": "SELL"}).order_of(buy("tb-1")) is None


def test_a_cancellation_is_found_by_the_original_id() -> None:
    # Binance reports a cancel with the cancel request's id in "c", the order's in "C".
    state = parse_execution_report(
        {**REPORT, "x": "CANCELED", "X": "CANCELED", "c": "web_9", "C": "tb-1", "t": -1}
    )
    assert state.client_id == "tb-1" and state.status is OrderStatus.CANCELED
    assert state.trade is None
    # "C" is "" on everything but a cancel: the order's own id.
    assert parse_execution_report({**REPORT, "X": "NEW", "x": "NEW"}).client_id == "tb-1"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("X", "WEIRD", "order status 'WEIRD'"),
        ("z", "lots", "z is 'lots'"),
        ("z", None, "z is None"),
        ("Z", "-1", "Z is '-1'"),
        ("S", "HOLD", "side 'HOLD'"),
        ("c", "", "no client order id"),
        ("N", None, "commission 0.00000040 in asset None"),
    ],
)
def test_a_malformed_report_names_what_is_wrong(field: str, value: object, says: str) -> None:
    with pytest.raises(MalformedReport, match=says.replace("(", r"\(")):
        parse_execution_report({**REPORT, field: value})


def test_a_state_never_goes_back_and_a_duplicate_counts_once() -> None:
    pushed = PushedOrders()
    first = parse_execution_report(REPORT)
    assert pushed.put(first)
    assert not pushed.put(first)  # the same event again
    older = parse_execution_report({**REPORT, "z": "0", "Z": "0", "x": "NEW", "X": "NEW"})
    assert not pushed.put(older)  # late: says less than what is known
    assert pushed.duplicates == 2
    found = pushed.latest("tb-1")
    assert found is not None and found[1] is first
    # Same amount, now over: newer.
    done = parse_execution_report({**REPORT, "x": "EXPIRED", "X": "EXPIRED", "t": -1})
    assert pushed.put(done)
    # A state with nothing newer than the one used is not handed out again.
    version = pushed.latest("tb-1")[0]  # type: ignore[index]

    async def wait() -> object:
        return await pushed.wait("tb-1", version, 0.05)

    assert run(wait) is None


def test_fees_come_from_the_stream_only_when_every_trade_was_pushed() -> None:
    pushed = PushedOrders()
    first = parse_execution_report(REPORT)
    pushed.put(first)
    assert pushed.fees(first) == (FeePaid("BTC", D("0.00000040")),)
    # The second trade pushed twice: counted once.
    second = parse_execution_report(
        {**REPORT, "l": "0.00060", "z": "0.00100", "Z": "70.0", "n": "0.0000006", "t": 12}
    )
    pushed.put(second)
    pushed.put(second)
    assert pushed.fees(second) == (FeePaid("BTC", D("0.00000100")),)
    # A trade missed (the stream was down): the amounts do not add up, the trade list
    # is asked instead of charging too little.
    gap = parse_execution_report({**REPORT, "c": "tb-2", "z": "0.00100", "Z": "70.0", "t": 13})
    pushed.put(gap)
    assert pushed.fees(gap) == ()


def test_the_subscription_is_signed_as_binance_signs_a_request() -> None:
    import hashlib
    import hmac

    params = signed_params("key-1", "sec-2", 1_700_000_000_000)
    payload = b"apiKey=key-1&timestamp=1700000000000"
    assert params["signature"] == hmac.new(b"sec-2", payload, hashlib.sha256).hexdigest()
    assert "sec-2" not in str(params)


# -- against the fake Binance -------------------------------------------------------------------


async def start_stream(
    nursery: trio.Nursery, fake: FakeBinance, *, secret: str = "sec-2"
) -> tuple[UserStream, list[BaseException]]:
    """The stream subscribed (or failed: its error in the list), as the engine runs it."""
    url = await nursery.start(fake.serve_ws_api)
    stream = UserStream(PushedOrders(), "key-1", secret, url=url)
    errors: list[BaseException] = []

    async def keep() -> None:
        try:
            await stream.run()
        except Exception as exc:
            errors.append(exc)

    nursery.start_soon(keep)
    with trio.fail_after(5):
        while not stream.pushed.up and not errors:
            await trio.sleep(0.01)
    return stream, errors


def follow_with_stream(
    fake: FakeBinance, *, before: Callable[[UserStream], None] = lambda s: None, **kw: Any
) -> tuple[list[BrokerEvent], UserStream, list[BaseException], str]:
    """The order followed by a broker the stream feeds; with the header at its end."""
    events: list[BrokerEvent] = []
    out: dict[str, Any] = {}

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            stream, errors = await start_stream(nursery, fake)
            out.update(stream=stream, errors=errors)
            before(stream)
            client = make_client(fake)
            await client.call("load_markets", priority=3)  # type: ignore[arg-type]
            broker = make_broker(client, pushed=stream.pushed, **kw)
            await broker.follow(buy(), events.append)
            out["header"] = stream.header()  # while it runs
            nursery.cancel_scope.cancel()

    run(go)
    return events, out["stream"], out["errors"], out["header"]


def order_queries(fake: FakeBinance) -> int:
    return fake.requests.count(("GET", "/api/v3/order"))


def test_a_fill_is_learned_when_pushed_not_at_the_next_poll(fake: FakeBinance) -> None:
    # The order fills 0.5 s after it is placed; polling would look only after 30 s.
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.5
    events, _, errors, header = follow_with_stream(fake, poll_s=30.0, max_poll_s=30.0)
    assert not errors
    assert closure(events).status is OrderStatus.FILLED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)
    assert order_queries(fake) == 0  # nothing polled: the stream said it all
    assert header == "fills pushed"


def test_a_report_before_the_rest_answer_and_a_duplicate_book_each_fill_once(
    fake: FakeBinance,
) -> None:
    # A market order that fills at once: Binance pushes NEW and the TRADE before the REST
    # answer (the fake waits until they are on the socket), here each of them twice.
    fake.user_stream_twice = True
    fake.partial_fraction = D("0.4")
    fake.fill_mode = "partial"
    fake.fill_delay_s = 0.3
    events, stream, errors, _ = follow_with_stream(fake, poll_s=30.0, max_poll_s=30.0)
    assert not errors
    assert closure(events).status is OrderStatus.FILLED
    assert len(fills(events)) == 2  # the partial fill, then the rest: once each
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)
    assert stream.pushed.duplicates >= 2  # the last copy may come after the order ended


def test_the_stream_dropped_the_order_is_polled_and_the_stream_taken_again(
    fake: FakeBinance,
) -> None:
    # The connection drops after its first event: the rest of the order is learned by
    # polling, the header says so, and the stream connects and subscribes again.
    fake.user_stream_drop_after = 1
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.3
    events: list[BrokerEvent] = []
    headers: list[str] = []

    async def go() -> UserStream:
        async with trio.open_nursery() as nursery:
            stream, errors = await start_stream(nursery, fake)

            async def when_down() -> None:  # the header while it is down, however short
                while stream.pushed.up:
                    await trio.sleep(0.002)
                headers.append(stream.header())

            nursery.start_soon(when_down)
            client = make_client(fake)
            await client.call("load_markets", priority=3)  # type: ignore[arg-type]
            broker = make_broker(client, pushed=stream.pushed)
            await broker.follow(buy(), events.append)
            with trio.fail_after(10):
                while stream.subscriptions < 2:
                    await trio.sleep(0.01)
            headers.append(stream.header())
            assert not errors  # a lost connection is not a failure of the service
            nursery.cancel_scope.cancel()
            return stream

    stream = run(go)
    assert closure(events).status is OrderStatus.FILLED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)
    assert order_queries(fake) >= 1
    assert stream.reconnects >= 1
    assert headers == ["fills polled (stream down)", "fills pushed"]


def test_an_ended_subscription_is_taken_again(fake: FakeBinance) -> None:
    async def go() -> UserStream:
        async with trio.open_nursery() as nursery:
            stream, errors = await start_stream(nursery, fake)
            assert not errors and stream.subscriptions == 1
            fake.expire_user_streams()
            with trio.fail_after(5):
                while stream.subscriptions < 2:
                    await trio.sleep(0.01)
            assert stream.pushed.up and stream.header() == "fills pushed"
            nursery.cancel_scope.cancel()
            return stream

    stream = run(go)
    assert stream.header() == "fills polled (stream down)"  # once it stopped
    assert len(fake.user_subs) == 0  # the connection is closed with the run


def test_a_refused_subscription_says_why_and_never_shows_the_secret(fake: FakeBinance) -> None:
    async def go() -> list[BaseException]:
        async with trio.open_nursery() as nursery:
            stream, errors = await start_stream(nursery, fake, secret="not-the-secret")
            nursery.cancel_scope.cancel()
            assert stream.header() == "fills polled (refused)"
            return errors

    errors = run(go)
    assert len(errors) == 1 and isinstance(errors[0], StreamRefused)
    text = str(errors[0])
    assert "Signature for this request is not valid" in text and "-1022" in text
    assert "not-the-secret" not in text


def test_malformed_messages_are_skipped_and_the_stream_goes_on(fake: FakeBinance) -> None:
    async def go() -> UserStream:
        async with trio.open_nursery() as nursery:
            stream, _ = await start_stream(nursery, fake)
            for bad in ("{broken", "[1, 2]", '{"subscriptionId": 1}', '{"event": 5}'):
                await stream._message(None, bad)
            await stream._message(
                None, '{"subscriptionId": 1, "event": {"e": "executionReport", "X": "?"}}'
            )
            await stream._message(None, '{"subscriptionId": 1, "event": {"e": "listStatus"}}')
            assert stream.malformed == 6  # a list status must name its list and status
            ok = '{"subscriptionId": 1, "event": {"e": "listStatus", "C": "tb-9", "l": "ALL_DONE"}}'
            await stream._message(None, ok)
            assert stream.malformed == 6
            got = stream.pushed.list_state("tb-9")
            assert got is not None and got[1] == "ALL_DONE"
            assert stream.pushed.up
            nursery.cancel_scope.cancel()
            return stream

    run(go)


# -- wiring --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rest_url", "ws_api_url", "stream_url"),
    [
        ("binance", "", "", "wss://ws-api.binance.com:443/ws-api/v3"),
        (
            "binance",
            "http://127.0.0.1:9",
            "ws://127.0.0.1:8/ws-api/v3",
            "ws://127.0.0.1:8/ws-api/v3",
        ),
        # REST elsewhere (a testnet, a fake) and no stream named: polled, never Binance's.
        ("binance", "http://127.0.0.1:9", "", None),
    ],
)
def test_a_live_run_on_binance_keeps_the_stream_as_a_service(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    rest_url: str,
    ws_api_url: str,
    stream_url: str | None,
) -> None:
    from dataclasses import replace

    from tests.exchange.venue_runs import locations
    from tradebot_tui.config.settings import Settings
    from tradebot_tui.exchange.ccxt_broker import CcxtBroker
    from tradebot_tui.wiring.bot import Bot
    from tradebot_tui.wiring.sources import exchange_feed

    monkeypatch.setenv("TRADEBOT_API_KEY", "key-1")
    monkeypatch.setenv("TRADEBOT_API_SECRET", "sec-2")
    settings = Settings()
    settings = replace(
        settings,
        exchange=replace(
            settings.exchange, name=name, mode="live", rest_url=rest_url, ws_api_url=ws_api_url
        ),
        market=replace(settings.market, source="ccxt", symbols=("BTC/USDT",)),
    )
    where = locations(tmp_path)
    source, broker = exchange_feed(settings, where, live=True)
    assert isinstance(broker, CcxtBroker)
    stream = broker.user_stream
    if stream_url is None:
        assert stream is None and broker.pushed is None
        return
    assert stream is not None and stream.url == stream_url
    assert broker.pushed is stream.pushed
    engine = Bot(settings, where, source, broker, True, False).engine()
    # Its word in the header from the start (polled until it is subscribed).
    assert "fills polled (not connected yet)" in engine.away_text()
    assert "sec-2" not in engine.away_text() + repr(stream.header())


def test_no_stream_to_connect_to_the_fills_are_polled_and_it_keeps_trying() -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stream = UserStream(PushedOrders(), "key-1", "sec-2", url=f"ws://127.0.0.1:{port}/ws-api/v3")

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.run)  # raising here would fail the test
            with trio.fail_after(5):
                while stream.reconnects < 1:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    run(go)
    assert stream.header() == "fills polled (stream down)"
    assert not stream.pushed.up


def test_a_pushed_fill_without_its_commissions_takes_them_from_the_trade_list(
    fake: FakeBinance,
) -> None:
    # The buy's commission is taken in BTC (what arrives is what can be sold). A state
    # that says "filled" but whose trades the stream did not carry (they were missed
    # while it was down) is not booked with a guessed fee: its trades are read from the
    # trade list, waited for while it lags, and what is booked is what the exchange did,
    # to the last digit.
    fake.base_fee_on_buy = True
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.5
    from tradebot_tui.exchange.user_stream import PushedOrder

    def missed_trades(stream: UserStream) -> None:
        stream.pushed.put(
            PushedOrder(
                client_id="tb-t-BTCUSDT-1",
                market_id="BTCUSDT",
                order_id="1",
                side=Side.BUY,
                status=OrderStatus.FILLED,
                amount=D("0.00100"),
                filled=D("0.00100"),
                cost=D("70.00000"),
                price=None,
                created_ms=None,
                updated_ms=None,
            )
        )

    events, _, errors, _ = follow_with_stream(fake, before=missed_trades)
    assert not errors
    assert closure(events).status is OrderStatus.FILLED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)  # BTC commission deducted
    assert fake.requests.count(("GET", "/api/v3/myTrades")) >= 2  # asked, and asked again


def test_a_connect_that_hangs_is_given_up_and_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from tradebot_tui.exchange import user_stream

    monkeypatch.setattr(user_stream, "CONNECT_S", 0.05)
    tries: list[str] = []

    async def hangs(url: str) -> None:
        tries.append(url)
        await trio.sleep_forever()

    stream = UserStream(PushedOrders(), "key-1", "sec-2", url="ws://127.0.0.1:9/x", connect=hangs)

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.run)
            with trio.fail_after(5):
                while len(tries) < 2:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    run(go)
    assert stream.reconnects >= 1 and stream.header() == "fills polled (stream down)"


def test_replies_of_the_wrong_shape_on_the_socket_are_skipped_and_the_fill_still_booked(
    fake: FakeBinance, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before every event the fake sends a message cut short, one not JSON, an array and
    # an executionReport of the wrong types: each is skipped (counted, logged a few
    # times), the stream stays up and the order's fill is booked from it.
    fake.user_stream_garbage = True
    fake.fill_mode = "delayed"
    fake.fill_delay_s = 0.3
    events, stream, errors, header = follow_with_stream(fake, poll_s=30.0, max_poll_s=30.0)
    assert not errors and header == "fills pushed"
    assert closure(events).status is OrderStatus.FILLED
    check_matches_exchange(fake, "tb-t-BTCUSDT-1", events)
    assert order_queries(fake) == 0  # the fill came by the stream, garbage and all
    assert stream.malformed >= 8  # four before each of at least two events
    assert "a message skipped" in caplog.text
    assert "Traceback" not in caplog.text + capsys.readouterr().err
