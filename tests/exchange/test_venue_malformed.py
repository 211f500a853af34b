"""Every venue's stream takes a message of the wrong shape (cut short, not JSON, an object
of the wrong types) as one malformed message: counted, logged, never raised, and the next
good message is a tick as ever."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.ticks import Tick
from tradebot_tui.exchange.bybit_ws import BybitWebsocketSource
from tradebot_tui.exchange.coinbase_ws import CoinbaseWebsocketSource
from tradebot_tui.exchange.kraken_ws import KrakenWebsocketSource
from tradebot_tui.exchange.okx_ws import OkxWebsocketSource
from tradebot_tui.exchange.universe import UniverseRule


class NoClient:
    name = "test"


def fed(kind: type, market_id: str) -> Any:
    source = kind(NoClient(), UniverseRule("USDT", "static", ("BTC/USDT",)))  # type: ignore[arg-type]
    source._markets = {"BTC/USDT": MarketRules("BTC/USDT")}
    source.by_id = {market_id: "BTC/USDT"}
    source.ids = {"BTC/USDT": market_id}
    return source


GOOD: dict[str, tuple[type, str, dict[str, Any]]] = {
    "bybit": (
        BybitWebsocketSource,
        "BTCUSDT",
        {"topic": "orderbook.1.BTCUSDT", "data": {"s": "BTCUSDT", "b": [["1", "1"]],
                                                  "a": [["2", "1"]], "u": 7}},
    ),
    "okx": (
        OkxWebsocketSource,
        "BTC-USDT",
        {"arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"},
         "data": [{"bids": [["1", "1", "0", "1"]], "asks": [["2", "1", "0", "1"]], "seqId": 7}]},
    ),
    "kraken": (
        KrakenWebsocketSource,
        "BTCUSDT",
        {"channel": "ticker", "type": "update",
         "data": [{"symbol": "BTC/USDT", "bid": 1.0, "ask": 2.0, "last": 1.5}]},
    ),
    "coinbase": (
        CoinbaseWebsocketSource,
        "BTC-USDT",
        {"channel": "ticker", "sequence_num": 0, "events": [{"type": "update", "tickers": [
            {"product_id": "BTC-USDT", "price": "1.5", "best_bid": "1", "best_ask": "2"}]}]},
    ),
}  # fmt: skip
WRONG_TYPES = {
    "bybit": {"topic": "orderbook.1.BTCUSDT", "data": {"s": "BTCUSDT", "b": 5, "a": 6, "u": 8}},
    "okx": {
        "arg": {"channel": "bbo-tbt", "instId": "BTC-USDT"},
        "data": [{"bids": 5, "asks": 6, "seqId": 8}],
    },
    "kraken": {"channel": "ticker", "data": [{"symbol": "BTC/USDT", "bid": "x", "ask": None}]},
    "coinbase": {"channel": "ticker", "sequence_num": 1, "events": [{"tickers": "x"}]},
}


@pytest.mark.parametrize("venue", sorted(GOOD))
def test_a_message_of_the_wrong_shape_is_counted_and_the_stream_goes_on(
    venue: str, caplog: pytest.LogCaptureFixture
) -> None:
    kind, market_id, good = GOOD[venue]
    source = fed(kind, market_id)
    ticks: list[Tick] = []
    text = json.dumps(good)
    for bad in (text[: len(text) // 2], "not json", "[1, 2]", json.dumps(WRONG_TYPES[venue])):
        source.handle(bad, ticks)
    assert source.malformed == 4 and ticks == []
    if venue == "coinbase":  # its sequence goes on from the last readable number
        good = {**good, "sequence_num": 2}
    source.handle(json.dumps(good), ticks)
    assert [(t.symbol, t.price) for t in ticks] == [("BTC/USDT", 1.5)]
    assert "Traceback" not in caplog.text
