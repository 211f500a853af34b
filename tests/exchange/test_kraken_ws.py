"""Kraken's v2 ticker channel, against the fake Kraken (tests/fake_kraken.py) built from
Kraken's documentation: markets by ccxt from the fake's REST, prices from its websocket."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from tests.exchange.venue_runs import buys_a_drop, client, run_until, symbols
from tests.fake_kraken import FakeKraken
from tradebot_tui.exchange import kraken_ws
from tradebot_tui.exchange.base import TickBatch
from tradebot_tui.exchange.kraken_ws import KrakenWebsocketSource
from tradebot_tui.exchange.universe import UniverseRule

TWO = UniverseRule("USDT", "static", ("C00/USDT", "C01/USDT"))


@pytest.fixture
def kraken() -> Iterator[FakeKraken]:
    fake = FakeKraken({f"C0{i}/USDT": "10.00" for i in range(3)})
    fake.start_rest()
    yield fake
    fake.stop_rest()


def source(kraken: FakeKraken, url: str, **kw: Any) -> KrakenWebsocketSource:
    return KrakenWebsocketSource(
        client("kraken", kraken.rest_url),
        TWO,
        ws_url=url,
        max_backoff_s=0.1,
        rng=random.Random(3),
        **kw,
    )


def test_bbo_updates_give_ticks_and_quotes(kraken: FakeKraken) -> None:
    feed, _ = run_until(kraken, lambda url: source(kraken, url), lambda f, b: len(symbols(b)) == 2)
    assert kraken.requests[0] == {
        "method": "subscribe",
        "params": {"channel": "ticker", "symbol": ["C00/USDT", "C01/USDT"], "event_trigger": "bbo"},
        "req_id": 1,
    }
    quote = feed.quotes.get("C00/USDT")
    assert quote is not None and quote.bid < quote.ask
    assert feed.system == "online" and feed.malformed == 0
    assert feed.health().endswith("· ticker (bbo) ×2")


def test_trades_give_the_last_price(kraken: FakeKraken) -> None:
    feed, _ = run_until(
        kraken,
        lambda url: source(kraken, url, stream="miniTicker"),
        lambda f, b: len(symbols(b)) == 2,
    )
    assert kraken.requests[0]["params"]["event_trigger"] == "trades"
    assert feed.quotes.get("C00/USDT") is None


def test_a_refused_symbol_is_said_and_the_others_stream(kraken: FakeKraken) -> None:
    kraken.refuse = {"C01/USDT"}
    feed, _ = run_until(
        kraken, lambda url: source(kraken, url), lambda f, b: "C00/USDT" in symbols(b) and f.refused
    )
    assert feed.refused == ["Currency pair not supported C01/USDT"] and feed.reconnects == 0


def test_unanswered_subscriptions_mean_connecting_again(
    kraken: FakeKraken, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kraken_ws, "ACK_TIMEOUT_S", 0.3)
    kraken.ack_delay_s = 5.0
    feed, _ = run_until(kraken, lambda url: source(kraken, url), lambda f, b: f.connects >= 2)
    assert feed.reconnects >= 1


def test_heartbeats_keep_a_quiet_connection_and_silence_ends_it(kraken: FakeKraken) -> None:
    kraken.quiet = True
    feed, _ = run_until(
        kraken, lambda url: source(kraken, url, silence_s=3.0), lambda f, b: kraken.heartbeats >= 2
    )
    assert feed.reconnects == 0
    kraken.quiet, kraken.silent = False, True  # no update, no heartbeat: dead, not closed
    feed, _ = run_until(
        kraken, lambda url: source(kraken, url, silence_s=0.5), lambda f, b: f.connects >= 2
    )
    assert feed.reconnects >= 1


def test_maintenance_is_shown_and_the_close_reconnected(kraken: FakeKraken) -> None:
    kraken.maintenance_after = 10
    statuses: list[str] = []

    def until(f: KrakenWebsocketSource, b: list[TickBatch]) -> bool:
        if f.system == "maintenance" and not statuses:
            statuses.append(f.health())
        return f.connects >= 2 and f.system == "online"

    feed, _ = run_until(kraken, lambda url: source(kraken, url), until)
    assert statuses and "Kraken maintenance" in statuses[0]
    assert "maintenance" not in feed.health()
    subscribes = [r for r in kraken.requests if r.get("method") == "subscribe"]
    assert len(subscribes) >= 2


def test_malformed_messages_are_counted(kraken: FakeKraken) -> None:
    kraken.malformed_every = 5
    feed, _ = run_until(kraken, lambda url: source(kraken, url), lambda f, b: f.malformed >= 3)
    assert feed.reconnects == 0


def test_paper_trading_on_krakens_stream_end_to_end(kraken: FakeKraken, tmp_path: Path) -> None:
    """Wired as a start wires it: a drop of 3 % below the hour's level is bought."""

    def drop() -> None:
        kraken.prices["C00/USDT"] = D("9.70")

    feed, position = buys_a_drop(kraken, "kraken", "C00/USDT", drop, tmp_path)
    assert isinstance(feed, KrakenWebsocketSource)
    assert D("9.68") < position.entry_price < D("9.73")  # the ask, a tick above the bid
    assert "/0/public/AssetPairs" in kraken.rest_requests
    assert "/0/public/OHLC" in kraken.rest_requests
