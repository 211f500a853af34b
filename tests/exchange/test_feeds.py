"""Market data from the fake Binance: REST polling through ccxt, websocket streams through
trio-websocket, the universe, malformed messages, reconnects, the breaker."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import random
from collections.abc import Iterator
from decimal import Decimal as D
from functools import partial
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from tests.exchange.test_live_broker import make_client
from tests.fake_exchange import FakeBinance
from tradebot_tui.exchange.base import QuoteBook, TickBatch
from tradebot_tui.exchange.binance_ws import BinanceWebsocketSource, parse_message
from tradebot_tui.exchange.ccxt_polling import CcxtPollingSource
from tradebot_tui.exchange.client import ExchangeClient
from tradebot_tui.exchange.feed import MalformedMessage
from tradebot_tui.exchange.resilience import BreakerState, CircuitBreaker, WeightBudget
from tradebot_tui.exchange.universe import UniverseRule, is_leveraged, select

STATIC = UniverseRule("USDT", "static", ("BTC/USDT", "ETH/USDT"))


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


async def collect(
    source: Any, count: int, *, until: Any = None, limit: float = 15.0
) -> list[TickBatch]:
    """Run `source` until `count` batches arrived (and `until()` holds), then stop it."""
    send, recv = trio.open_memory_channel[TickBatch](1000)
    batches: list[TickBatch] = []
    with trio.fail_after(limit):
        async with trio.open_nursery() as nursery:
            await nursery.start(source.run, send)
            async for batch in recv:
                batches.append(batch)
                if len(batches) >= count and (until is None or until()):
                    break
            nursery.cancel_scope.cancel()
    return batches


async def start_feed(
    nursery: trio.Nursery, source: Any, send: trio.MemorySendChannel[TickBatch]
) -> None:
    """Start a feed as the engine does: its run, then its side loops (the universe
    refresh)."""
    await nursery.start(source.run, send)
    for _name, loop in source.side_loops(send):
        nursery.start_soon(loop)


def test_polling_sends_ticks_and_quotes(fake: FakeBinance) -> None:
    quotes = QuoteBook()

    async def go() -> list[TickBatch]:
        source = CcxtPollingSource(make_client(fake), STATIC, quotes, interval_s=0.05)
        batches = await collect(source, 3)
        assert list(source.markets()) == ["BTC/USDT", "ETH/USDT"]
        assert source.health() == "live"
        return batches

    batches = trio.run(go)
    assert {t.symbol for b in batches for t in b.ticks} == {"BTC/USDT", "ETH/USDT"}
    assert all(t.price > 0 for b in batches for t in b.ticks)
    quote = quotes.get("BTC/USDT")
    assert quote is not None and quote.bid < 70000 < quote.ask


def test_top_volume_universe_skips_leveraged_and_stablecoins(fake: FakeBinance) -> None:
    rule = UniverseRule("USDT", "top_volume", top_n=2, exclude=("ETH/USDT",))

    async def go() -> list[str]:
        source = CcxtPollingSource(make_client(fake), rule, interval_s=0.05)
        await collect(source, 1)
        return list(source.markets())

    # By volume: BTCUP and USDC lead but are excluded by kind; ETH by the exclude list.
    assert trio.run(go) == ["BTC/USDT", "SOL/USDT"]


def test_universe_rules() -> None:
    markets = {s: {"spot": True, "active": True} for s in ("A/USDT", "B/USDT", "C/BTC")}
    tickers = {
        "A/USDT": {"quoteVolume": 5.0},
        "B/USDT": {"quoteVolume": 9.0},
        "C/BTC": {"quoteVolume": 99.0},
    }
    assert select(UniverseRule("USDT", "top_volume", top_n=5), markets, tickers) == [
        "B/USDT",
        "A/USDT",
    ]
    assert select(UniverseRule("USDT", "static", ("A/USDT", "X/USDT")), markets) == ["A/USDT"]
    assert select(
        UniverseRule("USDT", "top_volume", top_n=1, include=("A/USDT",)), markets, tickers
    ) == ["B/USDT", "A/USDT"]
    assert [is_leveraged(b) for b in ("BTCUP", "ETHDOWN", "XRPBULL", "BTC3L", "BTC", "JUP")] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_polling_failures_open_the_breaker_and_pause(fake: FakeBinance) -> None:
    async def go() -> tuple[str, BreakerState, int]:
        client = make_client(fake, threshold=3)
        client.retries = 0
        source = CcxtPollingSource(client, STATIC, interval_s=0.02)
        send, _recv = trio.open_memory_channel[TickBatch](1000)
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                await nursery.start(source.run, send)
                fake.inject(500, path="/api/v3/ticker", count=10_000)
                while client.breaker.state is not BreakerState.OPEN:
                    await trio.sleep(0.01)
                await trio.sleep(0.1)
                state, calls = source.health(), client.calls
                await trio.sleep(0.3)  # open: no polling at all
                assert client.calls == calls
                fake.faults.clear()
                while source.health() != "live":  # half-open trial succeeds, polling resumes
                    await trio.sleep(0.02)
                nursery.cancel_scope.cancel()
        return state, client.breaker.state, client.breaker.trips

    state, after, trips = trio.run(go)
    assert state == "paused (circuit open)"
    assert after is BreakerState.CLOSED and trips == 1


def ws_source(
    fake: FakeBinance, url: str, rule: UniverseRule = STATIC, **kw: Any
) -> BinanceWebsocketSource:
    return BinanceWebsocketSource(
        make_client(fake), rule, ws_url=url, max_backoff_s=0.1, rng=random.Random(3), **kw
    )


def test_websocket_streams_ticks(fake: FakeBinance) -> None:
    async def go() -> tuple[list[TickBatch], list[list[str]], QuoteBook]:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = ws_source(fake, url)
            batches = await collect(source, 20)
            nursery.cancel_scope.cancel()
        return batches, fake.ws_subscriptions, source.quotes

    batches, subs, quotes = trio.run(go)
    assert subs[0] == ["btcusdt@bookTicker", "ethusdt@bookTicker"]
    symbols = {t.symbol for b in batches for t in b.ticks}
    assert symbols == {"BTC/USDT", "ETH/USDT"}
    stamps = [t.ts_ms for b in batches for t in b.ticks]
    assert stamps == sorted(stamps)
    assert quotes.get("ETH/USDT") is not None


def test_websocket_survives_malformed_messages_and_drops(fake: FakeBinance) -> None:
    fake.ws_malformed_every = 5
    fake.ws_drop_after = 30

    async def go() -> BinanceWebsocketSource:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = ws_source(fake, url)
            await collect(source, 40, until=lambda: source.connects >= 2)
            nursery.cancel_scope.cancel()
        return source

    source = trio.run(go)
    assert source.malformed >= 3
    assert source.connects >= 2 and source.reconnects >= 1


def test_websocket_silence_means_reconnect(fake: FakeBinance) -> None:
    async def go() -> BinanceWebsocketSource:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = ws_source(fake, url, silence_s=0.3)
            fake.ws_silent = True
            send, _recv = trio.open_memory_channel[TickBatch](1000)
            with trio.fail_after(10):
                async with trio.open_nursery() as inner:
                    await start_feed(inner, source, send)
                    while source.reconnects < 2:
                        await trio.sleep(0.05)
                    inner.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
        return source

    source = trio.run(go)
    assert source.reconnects >= 2


def test_websocket_resubscribes_when_the_universe_changes(fake: FakeBinance) -> None:
    rule = UniverseRule("USDT", "top_volume", top_n=1)

    async def go() -> list[list[str]]:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = ws_source(fake, url, rule, refresh_s=0.2)
            send, _recv = trio.open_memory_channel[TickBatch](10_000)
            with trio.fail_after(10):
                async with trio.open_nursery() as inner:
                    await start_feed(inner, source, send)
                    while source.connects < 1:
                        await trio.sleep(0.02)
                    # SOL becomes the top coin (leveraged and stable ones are skipped).
                    fake.markets["SOLUSDT"].volume = D(10**9)
                    while ["solusdt@bookTicker"] not in fake.ws_subscriptions:
                        await trio.sleep(0.02)
                    inner.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
        return fake.ws_subscriptions

    subs = trio.run(go)
    assert subs[0] == ["btcusdt@bookTicker"]
    assert subs[-1] == ["solusdt@bookTicker"]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("{broken", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"stream": "x", "data": {"s": "NOPE", "b": "1", "a": "2"}}', "unknown symbol"),
        ('{"stream": "x", "data": {"s": "BTCUSDT", "b": "abc", "a": "2"}}', "bad number"),
        ('{"stream": "x", "data": {"s": "BTCUSDT", "b": "3", "a": "2"}}', "bad quotes"),
        ('{"stream": "x", "data": {"s": "BTCUSDT", "x": "3"}}', "neither"),
    ],
)
def test_parse_rejects_with_a_reason(message: str, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(message, {"BTCUSDT": "BTC/USDT"})


def test_parse_book_and_mini_tickers() -> None:
    ids = {"BNBUSDT": "BNB/USDT", "BNBBTC": "BNB/BTC"}
    book = (
        '{"u": 400900217, "s": "BNBUSDT", "b": "25.35190000", "B": "31.21", '
        '"a": "25.36520000", "A": "40.66"}'
    )
    assert parse_message(book, ids) == ("BNB/USDT", (25.3519 + 25.3652) / 2, 25.3519, 25.3652, None)
    mini = (
        '{"e": "24hrMiniTicker", "E": 1672515782136, "s": "BNBBTC", "c": "0.0025", "o": "0.0010"}'
    )
    assert parse_message(mini, ids) == ("BNB/BTC", 0.0025, None, None, 1672515782136)
    assert parse_message('{"result": null, "id": 3}', ids) is None


def test_budget_serves_by_priority_and_honours_retry_after() -> None:
    order: list[str] = []

    async def go() -> None:
        budget = WeightBudget(60, capacity=1)  # one weight a second
        await budget.take(1, 4)  # type: ignore[arg-type]  # empty now
        async with trio.open_nursery() as nursery:
            for name, prio in (("data", 4), ("entry", 2), ("cancel", 0)):
                nursery.start_soon(_take, budget, prio, name, order)
                await trio.sleep(0.01)
        budget.pause_for(5)
        start = trio.current_time()
        await budget.take(1, 0)  # type: ignore[arg-type]
        assert trio.current_time() - start >= 5

    trio.run(go, clock=MockClock(autojump_threshold=0))
    assert order == ["cancel", "entry", "data"]


async def _take(budget: WeightBudget, prio: int, name: str, order: list[str]) -> None:
    await budget.take(1, prio)  # type: ignore[arg-type]
    order.append(name)


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(3, 10.0, clock=lambda: now[0])
    assert not breaker.failure("a") and not breaker.failure("b")
    assert breaker.failure("c") and breaker.state is BreakerState.OPEN
    assert not breaker.allows()
    now[0] = 10.0
    assert breaker.state is BreakerState.HALF_OPEN and breaker.allows()
    assert breaker.failure("trial failed") and breaker.state is BreakerState.OPEN
    now[0] = 20.0
    breaker.success()
    assert breaker.state is BreakerState.CLOSED and breaker.trips == 2


def test_client_retries_transient_errors_only(fake: FakeBinance) -> None:
    async def go(client: ExchangeClient) -> Any:
        return await client.call("fetch_ticker", "BTC/USDT", priority=4)  # type: ignore[arg-type]

    client = make_client(fake)
    fake.inject(503, path="/api/v3/ticker", count=2)
    assert trio.run(go, client)["last"] == 70000.0
    assert client.retried == 2
    client = make_client(fake)
    with pytest.raises(Exception, match=r"BadSymbol|does not have market"):
        trio.run(lambda: client.call("fetch_ticker", "NOPE/USDT", priority=4))  # type: ignore[arg-type]
    assert client.retried == 0


def test_websocket_without_pongs_is_dropped_at_the_ping_deadline(fake: FakeBinance) -> None:
    """A server that accepts and streams but never answers a ping: the heartbeat's deadline
    ends the connection and the source reconnects."""
    import wsproto
    from wsproto.events import AcceptConnection, Request

    async def mute_server(stream: trio.SocketStream) -> None:
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        with trio.move_on_after(10), contextlib.suppress(trio.BrokenResourceError):
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, Request):
                        await stream.send_all(ws.send(AcceptConnection()))
                        message = json.dumps(
                            {
                                "stream": "btcusdt@bookTicker",
                                "data": {"s": "BTCUSDT", "b": "1", "a": "2"},
                            }
                        )
                        while True:  # stream forever, read (and answer) nothing
                            await stream.send_all(ws.send(wsproto.events.TextMessage(message)))
                            await trio.sleep(0.05)

    async def go() -> BinanceWebsocketSource:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, mute_server, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            source = ws_source(fake, f"ws://127.0.0.1:{port}", ping_s=0.2, ping_timeout_s=0.3)
            send, recv = trio.open_memory_channel[TickBatch](10_000)
            with trio.fail_after(15):
                async with trio.open_nursery() as inner:
                    await start_feed(inner, source, send)
                    while source.reconnects < 2:
                        await recv.receive()
                    inner.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
        return source

    source = trio.run(go)
    assert source.connects >= 2 and source.reconnects >= 2
    assert source.messages > 0  # it was streaming: only the missing pongs ended it


def test_websocket_keeps_the_stream_of_a_held_coin_the_universe_drops(fake: FakeBinance) -> None:
    rule = UniverseRule("USDT", "top_volume", top_n=1)

    async def go() -> tuple[list[list[str]], frozenset[str]]:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = ws_source(fake, url, rule, refresh_s=0.2)
            send, _recv = trio.open_memory_channel[TickBatch](10_000)
            with trio.fail_after(10):
                async with trio.open_nursery() as inner:
                    await start_feed(inner, source, send)
                    source.hold(frozenset({"BTC/USDT"}))  # the engine holds BTC
                    while source.connects < 1:
                        await trio.sleep(0.02)
                    fake.markets["SOLUSDT"].volume = D(10**9)  # SOL is the top coin now
                    wanted = ["btcusdt@bookTicker", "solusdt@bookTicker"]
                    while sorted(fake.ws_subscriptions[-1]) != wanted:
                        await trio.sleep(0.02)
                    outside = source.outside_universe()
                    inner.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
        return fake.ws_subscriptions, outside

    subs, outside = trio.run(go)
    assert subs[0] == ["btcusdt@bookTicker"]
    assert all("btcusdt@bookTicker" in s for s in subs)  # never unsubscribed
    assert outside == {"BTC/USDT"}


def test_server_shutdown_reconnects_at_once_and_is_no_malformed_message(
    fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    fake.ws_shutdown_after = 10
    caplog.set_level(logging.INFO, logger="tradebot")

    async def go() -> tuple[BinanceWebsocketSource, float]:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = ws_source(fake, url)
            source.max_backoff_s = 30.0  # a back-off would be seen
            send, _recv = trio.open_memory_channel[TickBatch](10_000)
            with trio.fail_after(10):
                async with trio.open_nursery() as inner:
                    await start_feed(inner, source, send)
                    while source.connects < 1:
                        await trio.sleep(0.01)
                    while fake.ws_shutdown_after is not None:
                        await trio.sleep(0.01)
                    told = trio.current_time()
                    while source.connects < 2:
                        await trio.sleep(0.01)
                    took = trio.current_time() - told
                    inner.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
        return source, took

    source, took = trio.run(go)
    assert took < 1.0  # at once, not after a back-off
    assert source.malformed == 0
    assert "the server is shutting down; reconnecting now" in caplog.text


def test_a_lost_websocket_is_logged_with_its_real_cause(
    fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    fake.ws_drop_after = 5

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = ws_source(fake, url)
            await collect(source, 10, until=lambda: source.connects >= 2)
            nursery.cancel_scope.cancel()

    trio.run(go)
    lost = [r.getMessage() for r in caplog.records if " lost: " in r.getMessage()]
    assert lost and all("ExceptionGroup" not in m and "sub-exception" not in m for m in lost)
    assert any("ConnectionClosed" in m for m in lost)


def test_every_source_backfills_the_anchors_of_coins_it_adds(fake: FakeBinance) -> None:
    """History at the start, and again for a coin a refresh adds: no waiting `window_s`."""
    rule = UniverseRule("USDT", "top_volume", top_n=1)

    async def go() -> list[TickBatch]:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = ws_source(fake, url, rule, refresh_s=0.2, warmup_s=600)
            batches: list[TickBatch] = []
            send, recv = trio.open_memory_channel[TickBatch](10_000)
            with trio.fail_after(10):
                async with trio.open_nursery() as inner:
                    await start_feed(inner, source, send)
                    fake.markets["SOLUSDT"].volume = D(10**9)  # SOL joins at the next refresh
                    async for batch in recv:
                        batches.append(batch)
                        warmed = {t.symbol for b in batches if b.warmup for t in b.ticks}
                        if warmed == {"BTC/USDT", "SOL/USDT"}:
                            break
                    inner.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
        return batches

    batches = trio.run(go)
    first = batches[0]
    assert first.warmup and {t.symbol for t in first.ticks} == {"BTC/USDT"}
    sol = next(b for b in batches if b.warmup and b.ticks[0].symbol == "SOL/USDT")
    assert len(sol.ticks) >= 4 * 9  # ten minutes of candles, four ticks each


def test_a_reader_behind_the_engine_conflates_instead_of_queueing(fake: FakeBinance) -> None:
    """The engine takes nothing for a while: the reader keeps reading the socket and holds
    one conflated batch (at most five ticks a coin), offered again as soon as there is room."""

    async def go() -> tuple[BinanceWebsocketSource, list[TickBatch]]:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(partial(fake.serve_ws, rate_hz=200))
            source = ws_source(fake, url)
            send, recv = trio.open_memory_channel[TickBatch](1)
            await nursery.start(source.run, send)
            with trio.fail_after(10):
                while source.conflated_batches < 1 or source.messages < 400:
                    await trio.sleep(0.01)  # the engine is "busy": nobody receives
            batches = []
            with trio.fail_after(10):
                while len(batches) < 3:
                    batches.append(await recv.receive())
            nursery.cancel_scope.cancel()
        return source, batches

    source, batches = trio.run(go)
    held = batches[1]  # the first waited in the channel; the second is the held one
    per_coin: dict[str, int] = {}
    for tick in held.ticks:
        per_coin[tick.symbol] = per_coin.get(tick.symbol, 0) + 1
    assert set(per_coin) == {"BTC/USDT", "ETH/USDT"}
    # Hundreds of messages came while nobody took any; the held batch has five a coin.
    assert source.messages >= 400 and max(per_coin.values()) <= 5
    stamps = [t.ts_ms for b in batches for t in b.ticks]
    assert stamps == sorted(stamps)
