"""Coinbase Advanced Trade's market data, against the fake Coinbase (tests/fake_coinbase.py)
built from Coinbase's documentation: markets by ccxt from the fake's REST, prices from its
websocket."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.exchange.test_venue_sources import locations
from tests.fake_coinbase import FakeCoinbase
from tradebot_tui.config.validate import from_dict
from tradebot_tui.engine.engine import Engine
from tradebot_tui.exchange import coinbase_ws
from tradebot_tui.exchange.base import TickBatch
from tradebot_tui.exchange.ccxt_markets import make_exchange
from tradebot_tui.exchange.client import ExchangeClient
from tradebot_tui.exchange.coinbase_ws import CoinbaseWebsocketSource
from tradebot_tui.exchange.resilience import CircuitBreaker, WeightBudget
from tradebot_tui.exchange.universe import UniverseRule
from tradebot_tui.wiring.sources import exchange_feed

TWO = UniverseRule("USDT", "static", ("C00/USDT", "C01/USDT"))


@pytest.fixture
def coinbase() -> Iterator[FakeCoinbase]:
    fake = FakeCoinbase({f"C0{i}-USDT": "10.00" for i in range(3)})
    fake.start_rest()
    yield fake
    fake.stop_rest()


def source(coinbase: FakeCoinbase, url: str, **kw: Any) -> CoinbaseWebsocketSource:
    exchange = make_exchange("coinbase", rest_url=coinbase.rest_url, timeout_s=2.0)
    client = ExchangeClient(
        exchange, budget=WeightBudget(60_000), breaker=CircuitBreaker(50, 1.0), timeout_s=2.0
    )
    return CoinbaseWebsocketSource(
        client, TWO, ws_url=url, max_backoff_s=0.1, rng=random.Random(3), **kw
    )


def run_until(coinbase: FakeCoinbase, make: Any, until: Any, limit: float = 10.0) -> Any:
    """Run the source made by `make(url)` until `until(source, batches)`."""
    seen: list[TickBatch] = []

    async def go() -> Any:
        async with trio.open_nursery() as outer:
            url = await outer.start(coinbase.serve)
            feed = make(url)
            send, recv = trio.open_memory_channel[TickBatch](100_000)
            with trio.fail_after(limit):
                async with trio.open_nursery() as nursery:
                    await nursery.start(feed.run, send)
                    while not until(feed, seen):
                        with trio.move_on_after(0.05):
                            seen.append(await recv.receive())
                    nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
        return feed

    return trio.run(go)


def symbols(batches: list[TickBatch]) -> set[str]:
    return {t.symbol for b in batches for t in b.ticks if not b.warmup}


def test_tickers_with_heartbeats_give_ticks_and_quotes(coinbase: FakeCoinbase) -> None:
    feed = run_until(coinbase, lambda url: source(coinbase, url), lambda f, b: len(symbols(b)) == 2)
    assert coinbase.requests[:2] == [
        {"type": "subscribe", "channel": "heartbeats"},
        {"type": "subscribe", "channel": "ticker", "product_ids": ["C00-USDT", "C01-USDT"]},
    ]
    quote = feed.quotes.get("C00/USDT")
    assert quote is not None and quote.bid < quote.ask
    assert feed.malformed == 0 and feed.gaps == 0
    assert feed.health().endswith("· ticker ×2 + heartbeats")


def test_the_last_trade_price_on_request(coinbase: FakeCoinbase) -> None:
    feed = run_until(
        coinbase,
        lambda url: source(coinbase, url, stream="miniTicker"),
        lambda f, b: len(symbols(b)) == 2,
    )
    assert feed.quotes.get("C00/USDT") is None


def test_a_refused_product_is_said_and_the_others_stream(coinbase: FakeCoinbase) -> None:
    coinbase.refuse = {"C01-USDT"}
    feed = run_until(
        coinbase,
        lambda url: source(coinbase, url),
        lambda f, b: len([t for x in b for t in x.ticks if t.symbol == "C00/USDT"]) > 20,
    )
    assert feed.refused == ["Failed to subscribe to C01-USDT"]
    assert feed.reconnects == 0 and feed.gaps == 0  # the error had its sequence number too


def test_a_lost_message_is_a_gap_and_a_fresh_connection(coinbase: FakeCoinbase) -> None:
    coinbase.skip_sequence_at = 15
    feed = run_until(
        coinbase,
        lambda url: source(coinbase, url),
        lambda f, b: f.connects >= 2 and len(symbols(b)) == 2,
    )
    assert feed.gaps == 1 and feed.malformed == 0


def test_broken_messages_are_counted_not_taken_for_lost_ones(coinbase: FakeCoinbase) -> None:
    coinbase.malformed_every = 6
    feed = run_until(coinbase, lambda url: source(coinbase, url), lambda f, b: f.malformed >= 3)
    assert feed.gaps == 0 and feed.reconnects == 0


def test_late_subscriptions_mean_connecting_again(
    coinbase: FakeCoinbase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coinbase_ws, "ACK_TIMEOUT_S", 0.3)
    coinbase.subscriptions_delay_s = 5.0
    feed = run_until(coinbase, lambda url: source(coinbase, url), lambda f, b: f.connects >= 2)
    assert feed.reconnects >= 1


def test_silence_ends_the_connection_and_a_close_is_reconnected(coinbase: FakeCoinbase) -> None:
    coinbase.silent = True
    feed = run_until(
        coinbase, lambda url: source(coinbase, url, silence_s=0.5), lambda f, b: f.connects >= 2
    )
    assert feed.reconnects >= 1
    coinbase.silent = False
    coinbase.close_after = coinbase.sent + 20
    feed = run_until(coinbase, lambda url: source(coinbase, url), lambda f, b: f.connects >= 2)
    assert feed.reconnects >= 1


def test_paper_trading_on_coinbases_stream_end_to_end(
    coinbase: FakeCoinbase, tmp_path: Path
) -> None:
    """Wired as a start wires it: a drop of 3 % below the hour's level is bought."""
    bought: list[Any] = []

    async def go() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                ws = await nursery.start(coinbase.serve)
                settings = from_dict(
                    {
                        "risk": {"stale_after_s": 0},
                        "exchange": {
                            "name": "coinbase",
                            "rest_url": coinbase.rest_url,
                            "ws_url": ws,
                        },
                        "market": {"source": "websocket", "symbols": ["C00/USDT"]},
                    },
                    "test",
                )
                feed, broker = exchange_feed(settings, locations(tmp_path), live=False)
                assert isinstance(feed, CoinbaseWebsocketSource)
                engine = Engine(settings, feed, broker)
                await nursery.start(engine.run)
                books = engine.trader.books
                while "C00/USDT" not in books or books["C00/USDT"].anchor_price is None:
                    await trio.sleep(0.02)
                coinbase.prices["C00-USDT"] = D("9.70")
                while not engine.trader.held_symbols():
                    await trio.sleep(0.02)
                bought.append(books["C00/USDT"].position)
                nursery.cancel_scope.cancel()

    trio.run(go)
    [position] = bought
    assert D("9.68") < position.entry_price < D("9.73")  # the ask, a tick above the bid
    assert "/api/v3/brokerage/market/products" in coinbase.rest_requests
