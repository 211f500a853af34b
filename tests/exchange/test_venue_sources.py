"""Which market-data source each venue gets, and where it connects (built, not started:
nothing here touches a network)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from tests.exchange.venue_runs import buys_a_drop, locations
from tests.fake_bybit import FakeBybit
from tradebot_tui.config.settings import Settings
from tradebot_tui.exchange.binance_ws import BinanceWebsocketSource
from tradebot_tui.exchange.bybit_ws import BybitWebsocketSource
from tradebot_tui.exchange.ccxt_polling import CcxtPollingSource
from tradebot_tui.exchange.coinbase_ws import CoinbaseWebsocketSource
from tradebot_tui.exchange.kraken_ws import KrakenWebsocketSource
from tradebot_tui.exchange.okx_ws import OkxWebsocketSource
from tradebot_tui.wiring.sources import exchange_feed


def feed_for(tmp_path: Path, name: str, source: str, ws_url: str = "") -> object:
    settings = Settings()
    settings = replace(
        settings,
        exchange=replace(settings.exchange, name=name, ws_url=ws_url),
        market=replace(settings.market, source=source, symbols=("BTC/USDT",)),
    )
    feed, _broker = exchange_feed(settings, locations(tmp_path), live=False)
    return feed


@pytest.mark.parametrize(
    ("name", "source", "kind", "url"),
    [
        ("binance", "websocket", BinanceWebsocketSource, "wss://stream.binance.com:9443"),
        ("bybit", "websocket", BybitWebsocketSource, "wss://stream.bybit.com/v5/public/spot"),
        ("okx", "websocket", OkxWebsocketSource, "wss://ws.okx.com:8443/ws/v5/public"),
        ("kraken", "websocket", KrakenWebsocketSource, "wss://ws.kraken.com/v2"),
        ("coinbase", "websocket", CoinbaseWebsocketSource, "wss://advanced-trade-ws.coinbase.com"),
        ("kraken", "ccxt", CcxtPollingSource, None),
    ],
)
def test_each_venue_gets_its_own_source_at_its_own_address(
    tmp_path: Path, name: str, source: str, kind: type, url: str | None
) -> None:
    feed = feed_for(tmp_path, name, source)
    assert isinstance(feed, kind)
    if url is not None:
        assert feed.ws_url == url  # type: ignore[attr-defined]
        assert feed.name == f"{name} websocket"  # type: ignore[attr-defined]


def test_a_url_set_in_the_config_wins(tmp_path: Path) -> None:
    testnet = "wss://stream-testnet.bybit.com/v5/public/spot"
    assert feed_for(tmp_path, "bybit", "websocket", testnet).ws_url == testnet  # type: ignore[attr-defined]


def test_paper_trading_on_bybits_stream_end_to_end(tmp_path: Path) -> None:
    """A paper run on Bybit, wired as a start wires it: a drop of 2.9 % below the hour's
    level is bought at Bybit's ask."""
    fake = FakeBybit({"BTCUSDT": "70000.00"})
    fake.start_rest()

    def drop() -> None:
        fake.prices["BTCUSDT"] = D("68000.00")

    try:
        feed, position = buys_a_drop(fake, "bybit", "BTC/USDT", drop, tmp_path)
    finally:
        fake.stop_rest()
    assert isinstance(feed, BybitWebsocketSource)
    assert D("67800") < position.entry_price < D("68200")
    assert "/v5/market/instruments-info" in fake.rest_requests
    assert "/v5/market/kline" in fake.rest_requests


@pytest.mark.parametrize(
    ("name", "url", "refused"),
    [
        ("bybit", "wss://stream-testnet.bybit.com/v5/public/spot", False),
        ("bybit", "ws://127.0.0.1:9000/v5/public/spot", False),
        ("binance", "wss://stream.testnet.binance.vision", False),
        ("okx", "wss://wspap.okx.com:8443/ws/v5/public", False),
        ("bybit", "wss://stream.binance.com:9443", True),
        ("kraken", "wss://ws.okx.com:8443/ws/v5/public", True),
        ("coinbase", "wss://notbinance.com/stream", False),  # a host that only ends alike
    ],
)
def test_a_stream_address_of_another_venue_is_refused(name: str, url: str, refused: bool) -> None:
    from tradebot_tui.exchange.venues import ws_url_problem

    assert (ws_url_problem(name, url) is not None) == refused
