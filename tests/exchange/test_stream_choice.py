"""Which Binance stream the websocket source reads: per-coin bookTicker streams for a small
universe, the one all-market mini-ticker array for a large one, chosen by itself ("auto"),
shown in the feed's health (the header), and changed when the universe crosses the limit.

The fake's array holds what Binance's does: every coin of the exchange, not only the
subscriber's, a coin missing from an array when its ticker did not change, and a symbol
exchangeInfo no longer lists."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from tests.exchange.test_feeds import collect
from tests.exchange.test_live_broker import make_client
from tests.fake_exchange import FakeBinance
from tradebot_tui.exchange import binance_ws
from tradebot_tui.exchange.base import TickBatch
from tradebot_tui.exchange.binance_ws import BinanceWebsocketSource, parse_message
from tradebot_tui.exchange.universe import UniverseRule

TWO = UniverseRule("USDT", "static", ("BTC/USDT", "ETH/USDT"))


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


def source_for(fake: FakeBinance, url: str, rule: UniverseRule) -> BinanceWebsocketSource:
    return BinanceWebsocketSource(
        make_client(fake), rule, ws_url=url, stream="auto", max_backoff_s=0.1,
        rng=random.Random(3),
    )  # fmt: skip


def stream(fake: FakeBinance, rule: UniverseRule, count: int) -> tuple[list[TickBatch], Any]:
    """The first `count` batches of an "auto" source on the fake's streams, and the source."""

    async def go() -> tuple[list[TickBatch], BinanceWebsocketSource]:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = source_for(fake, url, rule)
            batches = await collect(source, count)
            nursery.cancel_scope.cancel()
        return batches, source

    return trio.run(go)


def test_auto_reads_book_tickers_for_a_small_universe(fake: FakeBinance) -> None:
    batches, source = stream(fake, TWO, 10)
    assert fake.ws_subscriptions[0] == ["btcusdt@bookTicker", "ethusdt@bookTicker"]
    assert {t.symbol for b in batches for t in b.ticks} == {"BTC/USDT", "ETH/USDT"}
    assert source.quotes.get("BTC/USDT") is not None  # bookTicker brings bid and ask
    assert source.health().endswith("bookTicker ×2")


def test_auto_reads_the_all_market_array_for_a_large_universe(
    fake: FakeBinance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binance_ws, "AUTO_BOOK_LIMIT", 1)  # two coins count as many
    batches, source = stream(fake, TWO, 12)
    assert fake.ws_subscriptions[0] == ["!miniTicker@arr"]
    symbols = [t.symbol for b in batches for t in b.ticks]
    # Only the universe's coins: SOL, BNB... and the delisted GONEUSDT are skipped.
    assert set(symbols) == {"BTC/USDT", "ETH/USDT"}
    # One array carries both coins at once (when both changed): one batch, one wake-up.
    assert any(len(b.ticks) == 2 for b in batches if not b.warmup)
    assert source.malformed == 0  # coins outside the universe are not malformed
    assert source.health() == "live · all-market miniTicker"


def test_crossing_the_limit_reconnects_on_the_other_stream(
    fake: FakeBinance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binance_ws, "AUTO_BOOK_LIMIT", 1)
    one = UniverseRule("USDT", "static", ("BTC/USDT",))

    async def go() -> BinanceWebsocketSource:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(fake.serve_ws)
            source = source_for(fake, url, one)
            send, recv = trio.open_memory_channel[TickBatch](10_000)
            with trio.fail_after(10):
                async with trio.open_nursery() as inner:
                    await inner.start(source.run, send)
                    while source.connects < 1:
                        await trio.sleep(0.02)
                    # A held coin outside the universe makes two fed coins: over the limit.
                    source.hold(frozenset({"ETH/USDT"}))
                    while source.connects < 2:
                        await trio.sleep(0.02)
                    seen: set[str] = set()
                    while seen != {"BTC/USDT", "ETH/USDT"}:
                        seen |= {t.symbol for t in (await recv.receive()).ticks}
                    inner.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
        return source

    source = trio.run(go)
    assert fake.ws_subscriptions[0] == ["btcusdt@bookTicker"]
    assert fake.ws_subscriptions[-1] == ["!miniTicker@arr"]
    assert source.active_stream == "allMiniTickers"


def test_array_entries_are_checked_one_by_one() -> None:
    by_id = {"BTCUSDT": "BTC/USDT", "ETHUSDT": "ETH/USDT"}
    message = (
        '{"stream": "!miniTicker@arr", "data": ['
        '{"e": "24hrMiniTicker", "s": "BTCUSDT", "c": "70000.10"},'
        '{"e": "24hrMiniTicker", "s": "SOLUSDT", "c": "150.1"},'
        '{"e": "24hrMiniTicker", "s": "ETHUSDT", "c": "oops"},'
        '"not an object"]}'
    )
    parsed = parse_message(message, by_id)
    assert isinstance(parsed, list)
    assert parsed[0] == ("BTC/USDT", 70000.10)
    assert [str(p) for p in parsed[1:]] == [
        'ETH/USDT: bad or missing last price (ValueError("could not convert string to '
        "float: 'oops'\"))",
        "array entry is not an object",
    ]


def test_an_unknown_stream_setting_is_refused(fake: FakeBinance) -> None:
    with pytest.raises(ValueError, match="stream must be one of auto, bookTicker"):
        BinanceWebsocketSource(make_client(fake), TWO, stream="depth")
