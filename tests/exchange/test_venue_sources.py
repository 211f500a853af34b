"""Which market-data source each venue gets, and where it connects (built, not started:
nothing here touches a network)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.exchange.binance_ws import BinanceWebsocketSource
from tradebot_tui.exchange.bybit_ws import BybitWebsocketSource
from tradebot_tui.exchange.ccxt_polling import CcxtPollingSource
from tradebot_tui.wiring.sources import exchange_feed


def locations(tmp_path: Path) -> Locations:
    return Locations(
        tmp_path / "config.toml",
        False,
        tmp_path / "secrets.toml",
        tmp_path / "themes",
        tmp_path / "data",
        tmp_path / "journals",
        tmp_path / "recordings",
        tmp_path / "logs",
    )


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
    """A paper run on Bybit, wired as a start wires it (`exchange_feed`): markets and
    warm-up candles by ccxt from the fake Bybit's REST, prices from its websocket; a drop
    of 2.9 % below the hour's level is bought at Bybit's ask."""
    import trio

    from tests.fake_bybit import FakeBybit
    from tradebot_tui.config.validate import from_dict
    from tradebot_tui.engine.engine import Engine

    fake = FakeBybit({"BTCUSDT": "70000.00"})
    rest = fake.start_rest()
    bought: list[object] = []

    async def go() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                ws = await nursery.start(fake.serve)
                settings = from_dict(
                    {
                        "risk": {"stale_after_s": 0},
                        "exchange": {"name": "bybit", "rest_url": rest, "ws_url": ws},
                        "market": {"source": "websocket", "symbols": ["BTC/USDT"]},
                    },
                    "test",
                )
                source, broker = exchange_feed(settings, locations(tmp_path), live=False)
                assert isinstance(source, BybitWebsocketSource)
                engine = Engine(settings, source, broker)
                await nursery.start(engine.run)
                books = engine.trader.books
                while "BTC/USDT" not in books or books["BTC/USDT"].anchor_price is None:
                    await trio.sleep(0.02)
                fake.prices["BTCUSDT"] = D("68000.00")
                while not engine.trader.held_symbols():
                    await trio.sleep(0.02)
                bought.append(books["BTC/USDT"].position)
                nursery.cancel_scope.cancel()

    try:
        trio.run(go)
    finally:
        fake.stop_rest()
    [position] = bought
    assert position is not None and D("67800") < position.entry_price < D("68200")
    assert "/v5/market/instruments-info" in fake.rest_requests
    assert "/v5/market/kline" in fake.rest_requests
