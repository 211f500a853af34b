"""OKX's v5 public channels, against the fake OKX (tests/fake_okx.py) built from OKX's
documentation: markets by ccxt from the fake's REST, prices from its websocket."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.exchange.test_venue_sources import locations
from tests.fake_okx import FakeOkx
from tradebot_tui.config.validate import from_dict
from tradebot_tui.engine.engine import Engine
from tradebot_tui.exchange import okx_ws
from tradebot_tui.exchange.base import TickBatch
from tradebot_tui.exchange.ccxt_markets import make_exchange
from tradebot_tui.exchange.client import ExchangeClient
from tradebot_tui.exchange.okx_ws import OkxWebsocketSource
from tradebot_tui.exchange.resilience import CircuitBreaker, WeightBudget
from tradebot_tui.exchange.universe import UniverseRule
from tradebot_tui.wiring.sources import exchange_feed

INSTS = [f"C{i:02d}-USDT" for i in range(12)]
TWO = UniverseRule("USDT", "static", ("C00/USDT", "C01/USDT"))
ALL = UniverseRule("USDT", "static", tuple(i.replace("-", "/") for i in INSTS))


@pytest.fixture
def okx() -> Iterator[FakeOkx]:
    fake = FakeOkx({inst: "10.0" for inst in INSTS})
    fake.start_rest()
    yield fake
    fake.stop_rest()


def client(okx: FakeOkx) -> ExchangeClient:
    exchange = make_exchange("okx", rest_url=okx.rest_url, timeout_s=2.0)
    return ExchangeClient(
        exchange, budget=WeightBudget(60_000), breaker=CircuitBreaker(50, 1.0), timeout_s=2.0
    )


def source(okx: FakeOkx, url: str, rule: UniverseRule = TWO, **kw: Any) -> OkxWebsocketSource:
    return OkxWebsocketSource(
        client(okx), rule, ws_url=url, max_backoff_s=0.1, rng=random.Random(3), **kw
    )


def run(okx: FakeOkx, make: Any, until: Any, limit: float = 15.0) -> tuple[Any, list[TickBatch]]:
    got: list[TickBatch] = []

    async def go() -> Any:
        async with trio.open_nursery() as outer:
            url = await outer.start(okx.serve)
            feed = make(url)
            send, recv = trio.open_memory_channel[TickBatch](100_000)
            with trio.fail_after(limit):
                async with trio.open_nursery() as nursery:
                    await nursery.start(feed.run, send)
                    async for batch in recv:
                        got.append(batch)
                        if until(feed, got):
                            break
                    nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
        return feed

    return trio.run(go), got


def run_until(okx: FakeOkx, make: Any, until: Any, limit: float = 10.0) -> Any:
    """Run the source made by `make(url)` until `until(source)`, ticks or none."""

    async def go() -> Any:
        async with trio.open_nursery() as outer:
            url = await outer.start(okx.serve)
            feed = make(url)
            send, _recv = trio.open_memory_channel[TickBatch](100_000)
            with trio.fail_after(limit):
                async with trio.open_nursery() as nursery:
                    await nursery.start(feed.run, send)
                    while not until(feed):
                        await trio.sleep(0.05)
                    nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
        return feed

    return trio.run(go)


def symbols(batches: list[TickBatch]) -> set[str]:
    return {t.symbol for b in batches for t in b.ticks if not b.warmup}


def test_bbo_streams_ticks_and_quotes(okx: FakeOkx) -> None:
    feed, _ = run(okx, lambda url: source(okx, url), lambda f, b: len(symbols(b)) == 2)
    assert okx.requests[0] == {
        "id": "1",
        "op": "subscribe",
        "args": [
            {"channel": "bbo-tbt", "instId": "C00-USDT"},
            {"channel": "bbo-tbt", "instId": "C01-USDT"},
        ],
    }
    quote = feed.quotes.get("C01/USDT")
    assert quote is not None and quote.bid < quote.ask
    assert feed.health().endswith("· bbo-tbt ×2") and feed.malformed == 0


def test_tickers_give_the_last_price(okx: FakeOkx) -> None:
    feed, _ = run(
        okx, lambda url: source(okx, url, stream="miniTicker"), lambda f, b: len(symbols(b)) == 2
    )
    assert okx.requests[0]["args"][0]["channel"] == "tickers"
    assert feed.quotes.get("C00/USDT") is None


def test_a_large_universe_over_several_connections(okx: FakeOkx) -> None:
    feed, _ = run(
        okx,
        lambda url: source(okx, url, ALL, shard_channels=5),
        lambda f, b: len(symbols(b)) == 12,
    )
    assert feed.shard_count() == 3 and okx.connections == 3
    assert sorted(len(c) for c in okx.channels_by_connection) != [12]
    assert sum(len(c) for c in okx.channels_by_connection) == 12


def test_a_refused_channel_is_said_and_the_others_stream(okx: FakeOkx) -> None:
    okx.refuse = {"C01-USDT"}
    feed, batches = run(
        okx, lambda url: source(okx, url), lambda f, b: "C00/USDT" in symbols(b) and f.refused
    )
    assert feed.refused == ["60018: Wrong URL or channel:bbo-tbt,instId:C01-USDT doesn't exist"]
    assert "C01/USDT" not in symbols(batches) and feed.reconnects == 0


def test_unanswered_subscriptions_mean_connecting_again(
    okx: FakeOkx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(okx_ws, "ACK_TIMEOUT_S", 0.3)
    okx.ack_delay_s = 5.0
    feed = run_until(okx, lambda url: source(okx, url), lambda f: f.connects >= 2)
    assert okx.connections >= 2 and feed.reconnects >= 1


def test_a_quiet_connection_is_pinged_and_kept(okx: FakeOkx) -> None:
    okx.silent = True
    feed = run_until(
        okx,
        lambda url: source(okx, url, ping_s=0.1, ping_timeout_s=1.0, silence_s=5.0),
        lambda f: okx.pings >= 3,
    )
    assert feed.reconnects == 0  # each ping got its pong


def test_pongs_that_stop_are_noticed_at_the_deadline(okx: FakeOkx) -> None:
    okx.silent = True
    okx.pong = False
    feed = run_until(
        okx,
        lambda url: source(okx, url, ping_s=0.1, ping_timeout_s=0.3, silence_s=5.0),
        lambda f: f.reconnects >= 2,
    )
    assert okx.connections >= 2 and okx.pings >= 2 and feed.connects >= 2


def test_an_upgrade_notice_reconnects_at_once(okx: FakeOkx) -> None:
    okx.upgrade_after = 10
    _feed, _ = run(okx, lambda url: source(okx, url), lambda f, b: f.connects >= 2)
    subscribes = [r for r in okx.requests if r.get("op") == "subscribe"]
    assert len(subscribes) >= 2 and subscribes[0]["args"] == subscribes[1]["args"]


def test_late_messages_are_dropped_and_malformed_ones_counted(okx: FakeOkx) -> None:
    okx.stale_every = 4
    okx.malformed_every = 7
    feed, _ = run(
        okx, lambda url: source(okx, url), lambda f, b: f.out_of_order >= 2 and f.malformed >= 2
    )
    assert feed.reconnects == 0


def test_paper_trading_on_okxs_stream_end_to_end(okx: FakeOkx, tmp_path: Path) -> None:
    """Wired as a start wires it: a 2.9 % drop below the hour's level is bought."""
    bought: list[Any] = []

    async def go() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                ws = await nursery.start(okx.serve)
                settings = from_dict(
                    {
                        "risk": {"stale_after_s": 0},
                        "exchange": {"name": "okx", "rest_url": okx.rest_url, "ws_url": ws},
                        "market": {"source": "websocket", "symbols": ["C00/USDT"]},
                    },
                    "test",
                )
                feed, broker = exchange_feed(settings, locations(tmp_path), live=False)
                assert isinstance(feed, OkxWebsocketSource)
                engine = Engine(settings, feed, broker)
                await nursery.start(engine.run)
                books = engine.trader.books
                while "C00/USDT" not in books or books["C00/USDT"].anchor_price is None:
                    await trio.sleep(0.02)
                okx.prices["C00-USDT"] = D("9.7")
                while not engine.trader.held_symbols():
                    await trio.sleep(0.02)
                bought.append(books["C00/USDT"].position)
                nursery.cancel_scope.cancel()

    trio.run(go)
    [position] = bought
    assert D("9.68") < position.entry_price < D("9.75")  # the ask, a tick above the bid
    assert "/api/v5/public/instruments" in okx.rest_requests
