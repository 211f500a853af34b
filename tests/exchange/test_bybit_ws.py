"""Bybit's v5 public spot stream, against the fake Bybit (tests/fake_bybit.py) built from
Bybit's documentation. The markets (REST) come from the fake Binance: the stream is what is
under test, and both venues name spot markets alike (BTCUSDT)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest

from tests.exchange.test_live_broker import make_client
from tests.exchange.venue_runs import run_until, symbols
from tests.fake_bybit import FakeBybit
from tests.fake_exchange import FakeBinance, Market
from tradebot_tui.exchange import bybit_ws
from tradebot_tui.exchange.base import TickBatch
from tradebot_tui.exchange.bybit_ws import BybitWebsocketSource
from tradebot_tui.exchange.universe import UniverseRule

IDS = [f"C{i:02d}USDT" for i in range(25)]
ALL = UniverseRule("USDT", "static", tuple(f"C{i:02d}/USDT" for i in range(25)))
TWO = UniverseRule("USDT", "static", ("C00/USDT", "C01/USDT"))


@pytest.fixture
def rest() -> Iterator[FakeBinance]:
    markets = {sid: Market(sid[:3], "USDT", D("10.00")) for sid in IDS}
    with FakeBinance(markets) as exchange:
        yield exchange


@pytest.fixture
def bybit() -> FakeBybit:
    return FakeBybit({sid: "10.00" for sid in IDS})


def source(
    rest: FakeBinance, url: str, rule: UniverseRule = TWO, **kw: Any
) -> BybitWebsocketSource:
    return BybitWebsocketSource(
        make_client(rest), rule, ws_url=url, max_backoff_s=0.1, rng=random.Random(3), **kw
    )


def test_books_stream_ticks_and_quotes_and_the_header_names_the_stream(
    rest: FakeBinance, bybit: FakeBybit
) -> None:
    feed, _batches = run_until(
        bybit, lambda url: source(rest, url), lambda f, b: symbols(b) == {"C00/USDT", "C01/USDT"}
    )
    assert bybit.requests[0]["op"] == "subscribe"
    assert bybit.requests[0]["args"] == ["orderbook.1.C00USDT", "orderbook.1.C01USDT"]
    quote = feed.quotes.get("C00/USDT")
    assert quote is not None and quote.bid < quote.ask
    assert feed.health().endswith("· orderbook.1 ×2")
    assert feed.malformed == 0


def test_tickers_give_the_last_price(rest: FakeBinance, bybit: FakeBybit) -> None:
    feed, _batches = run_until(
        bybit,
        lambda url: source(rest, url, stream="miniTicker"),
        lambda f, b: symbols(b) == {"C00/USDT", "C01/USDT"},
    )
    assert bybit.requests[0]["args"] == ["tickers.C00USDT", "tickers.C01USDT"]
    assert feed.quotes.get("C00/USDT") is None  # a last price, no quotes


def test_ten_args_a_request_and_a_large_universe_over_several_connections(
    rest: FakeBinance, bybit: FakeBybit
) -> None:
    feed, _batches = run_until(
        bybit,
        lambda url: source(rest, url, ALL, shard_topics=10),
        lambda f, b: len(symbols(b)) == 25,
    )
    assert feed.shard_count() == 3 and bybit.connections == 3
    subscribes = [r for r in bybit.requests if r["op"] == "subscribe"]
    assert all(len(r["args"]) <= 10 for r in subscribes)
    per_connection = [len(t) for t in bybit.topics_by_connection]
    assert sum(per_connection) == 25 and max(per_connection) <= 25
    assert "over 3 connections" in feed.stream_text()


def test_a_refused_topic_is_said_and_the_others_stream(rest: FakeBinance, bybit: FakeBybit) -> None:
    bybit.refuse = {"orderbook.1.C01USDT"}
    feed, batches = run_until(
        bybit,
        lambda url: source(rest, url),
        lambda f, b: "C00/USDT" in symbols(b) and f.refused,
    )
    assert feed.refused == ["error:handler not found,topic:orderbook.1.C01USDT"]
    assert "C01/USDT" not in symbols(batches)


def test_an_unanswered_subscription_means_connecting_again(
    rest: FakeBinance, bybit: FakeBybit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bybit_ws, "ACK_TIMEOUT_S", 0.3)
    bybit.ack_delay_s = 5.0
    feed, _ = run_until(bybit, lambda url: source(rest, url), lambda f, b: f.connects >= 2)
    assert bybit.connections >= 2 and feed.reconnects >= 1


def test_pongs_that_stop_are_noticed_at_the_deadline(rest: FakeBinance, bybit: FakeBybit) -> None:
    bybit.pong = False
    feed, _ = run_until(
        bybit,
        lambda url: source(rest, url, ping_s=0.2, ping_timeout_s=0.3),
        lambda f, b: f.connects >= 3,
    )
    assert bybit.pings >= 2 and bybit.connections >= 3 and feed.reconnects >= 2
    assert feed.messages > 0  # it streamed all along: only the pongs were missing


def test_pings_are_the_applications_and_answered(rest: FakeBinance, bybit: FakeBybit) -> None:
    feed, _ = run_until(
        bybit,
        lambda url: source(rest, url, ping_s=0.1, ping_timeout_s=1.0),
        lambda f, b: bybit.pings >= 3,
    )
    assert feed.reconnects == 0
    assert all(set(r) == {"req_id", "op"} for r in bybit.requests if r["op"] == "ping")


def test_a_close_for_maintenance_reconnects_and_resubscribes(
    rest: FakeBinance, bybit: FakeBybit
) -> None:
    bybit.close_after = 10
    _feed, _ = run_until(
        bybit,
        lambda url: source(rest, url),
        lambda f, b: f.connects >= 2 and len(symbols(b[-3:])) > 0,
    )
    subscribes = [r["args"] for r in bybit.requests if r["op"] == "subscribe"]
    assert len(subscribes) >= 2 and subscribes[0] == subscribes[1]


def test_a_late_snapshot_is_dropped_and_a_restart_at_one_is_taken(
    rest: FakeBinance, bybit: FakeBybit
) -> None:
    bybit.stale_every = 4
    feed, _ = run_until(bybit, lambda url: source(rest, url), lambda f, b: f.out_of_order >= 3)
    assert feed.malformed == 0
    # After a restart of Bybit's service the ids start at 1 again: taken, not dropped.
    bybit.stale_every = 0
    bybit.restart_u = True
    before = {}

    def after_restart(f: BybitWebsocketSource, b: list[TickBatch]) -> bool:
        if not before:
            before.update(f._book_u)
        return any(u < 10 for u in f._book_u.values()) and len(b) > 5

    feed, _ = run_until(bybit, lambda url: source(rest, url), after_restart)
    assert feed.out_of_order == 0


def test_malformed_messages_and_one_sided_books(rest: FakeBinance, bybit: FakeBybit) -> None:
    bybit.malformed_every = 5
    bybit.one_sided = {"C01USDT"}
    feed, batches = run_until(bybit, lambda url: source(rest, url), lambda f, b: f.malformed >= 3)
    assert feed.reconnects == 0  # counted, never fatal
    assert "C01/USDT" not in symbols(batches)  # no asks: no price, and nothing malformed
    assert feed.malformed * 5 <= bybit.sent + 5


def test_bybit_has_no_all_market_stream(rest: FakeBinance) -> None:
    with pytest.raises(ValueError, match="no all-market stream"):
        source(rest, "ws://127.0.0.1:9/v5/public/spot", stream="allMiniTickers")
