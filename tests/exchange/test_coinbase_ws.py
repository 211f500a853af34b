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

from tests.exchange.venue_runs import buys_a_drop, client, run_until, symbols
from tests.fake_coinbase import FakeCoinbase
from tradebot_tui.exchange import coinbase_ws
from tradebot_tui.exchange.coinbase_ws import CoinbaseWebsocketSource
from tradebot_tui.exchange.universe import UniverseRule

TWO = UniverseRule("USDT", "static", ("C00/USDT", "C01/USDT"))


@pytest.fixture
def coinbase() -> Iterator[FakeCoinbase]:
    fake = FakeCoinbase({f"C0{i}-USDT": "10.00" for i in range(3)})
    fake.start_rest()
    yield fake
    fake.stop_rest()


def source(coinbase: FakeCoinbase, url: str, **kw: Any) -> CoinbaseWebsocketSource:
    return CoinbaseWebsocketSource(
        client("coinbase", coinbase.rest_url),
        TWO,
        ws_url=url,
        max_backoff_s=0.1,
        rng=random.Random(3),
        **kw,
    )


def test_tickers_with_heartbeats_give_ticks_and_quotes(coinbase: FakeCoinbase) -> None:
    feed, _ = run_until(
        coinbase, lambda url: source(coinbase, url), lambda f, b: len(symbols(b)) == 2
    )
    assert coinbase.requests[:2] == [
        {"type": "subscribe", "channel": "heartbeats"},
        {"type": "subscribe", "channel": "ticker", "product_ids": ["C00-USDT", "C01-USDT"]},
    ]
    quote = feed.quotes.get("C00/USDT")
    assert quote is not None and quote.bid < quote.ask
    assert feed.malformed == 0 and feed.gaps == 0
    assert feed.health().endswith("· ticker ×2 + heartbeats")


def test_the_last_trade_price_on_request(coinbase: FakeCoinbase) -> None:
    feed, _ = run_until(
        coinbase,
        lambda url: source(coinbase, url, stream="miniTicker"),
        lambda f, b: len(symbols(b)) == 2,
    )
    assert feed.quotes.get("C00/USDT") is None


def test_a_refused_product_is_said_and_the_others_stream(coinbase: FakeCoinbase) -> None:
    coinbase.refuse = {"C01-USDT"}
    feed, _ = run_until(
        coinbase,
        lambda url: source(coinbase, url),
        lambda f, b: len([t for x in b for t in x.ticks if t.symbol == "C00/USDT"]) > 20,
    )
    assert feed.refused == ["Failed to subscribe to C01-USDT"]
    assert feed.reconnects == 0 and feed.gaps == 0  # the error had its sequence number too


def test_a_lost_message_is_a_gap_and_a_fresh_connection(coinbase: FakeCoinbase) -> None:
    coinbase.skip_sequence_at = 15
    feed, _ = run_until(
        coinbase,
        lambda url: source(coinbase, url),
        lambda f, b: f.connects >= 2 and len(symbols(b)) == 2,
    )
    assert feed.gaps == 1 and feed.malformed == 0


def test_broken_messages_are_counted_not_taken_for_lost_ones(coinbase: FakeCoinbase) -> None:
    coinbase.malformed_every = 6
    feed, _ = run_until(coinbase, lambda url: source(coinbase, url), lambda f, b: f.malformed >= 3)
    assert feed.gaps == 0 and feed.reconnects == 0


def test_late_subscriptions_mean_connecting_again(
    coinbase: FakeCoinbase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coinbase_ws, "ACK_TIMEOUT_S", 0.3)
    coinbase.subscriptions_delay_s = 5.0
    feed, _ = run_until(coinbase, lambda url: source(coinbase, url), lambda f, b: f.connects >= 2)
    assert feed.reconnects >= 1


def test_silence_ends_the_connection_and_a_close_is_reconnected(coinbase: FakeCoinbase) -> None:
    coinbase.silent = True
    feed, _ = run_until(
        coinbase, lambda url: source(coinbase, url, silence_s=0.5), lambda f, b: f.connects >= 2
    )
    assert feed.reconnects >= 1
    coinbase.silent = False
    coinbase.close_after = coinbase.sent + 20
    feed, _ = run_until(coinbase, lambda url: source(coinbase, url), lambda f, b: f.connects >= 2)
    assert feed.reconnects >= 1


def test_paper_trading_on_coinbases_stream_end_to_end(
    coinbase: FakeCoinbase, tmp_path: Path
) -> None:
    """Wired as a start wires it: a drop of 3 % below the hour's level is bought."""

    def drop() -> None:
        coinbase.prices["C00-USDT"] = D("9.70")

    feed, position = buys_a_drop(coinbase, "coinbase", "C00/USDT", drop, tmp_path)
    assert isinstance(feed, CoinbaseWebsocketSource)
    assert D("9.68") < position.entry_price < D("9.73")  # the ask, a tick above the bid
    assert "/api/v3/brokerage/market/products" in coinbase.rest_requests
