"""OKX's v5 public channels, against the fake OKX (tests/fake_okx.py) built from OKX's
documentation: markets by ccxt from the fake's REST, prices from its websocket."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from tests.exchange.venue_runs import buys_a_drop, client, run_until, symbols
from tests.fake_okx import FakeOkx
from tradebot_tui.exchange import okx_ws
from tradebot_tui.exchange.okx_ws import OkxWebsocketSource
from tradebot_tui.exchange.universe import UniverseRule

INSTS = [f"C{i:02d}-USDT" for i in range(12)]
TWO = UniverseRule("USDT", "static", ("C00/USDT", "C01/USDT"))
ALL = UniverseRule("USDT", "static", tuple(i.replace("-", "/") for i in INSTS))


@pytest.fixture
def okx() -> Iterator[FakeOkx]:
    fake = FakeOkx({inst: "10.0" for inst in INSTS})
    fake.start_rest()
    yield fake
    fake.stop_rest()


def source(okx: FakeOkx, url: str, rule: UniverseRule = TWO, **kw: Any) -> OkxWebsocketSource:
    return OkxWebsocketSource(
        client("okx", okx.rest_url),
        rule,
        ws_url=url,
        max_backoff_s=0.1,
        rng=random.Random(3),
        **kw,
    )


def test_bbo_streams_ticks_and_quotes(okx: FakeOkx) -> None:
    feed, _ = run_until(okx, lambda url: source(okx, url), lambda f, b: len(symbols(b)) == 2)
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
    feed, _ = run_until(
        okx, lambda url: source(okx, url, stream="miniTicker"), lambda f, b: len(symbols(b)) == 2
    )
    assert okx.requests[0]["args"][0]["channel"] == "tickers"
    assert feed.quotes.get("C00/USDT") is None


def test_a_large_universe_over_several_connections(okx: FakeOkx) -> None:
    feed, _ = run_until(
        okx,
        lambda url: source(okx, url, ALL, shard_channels=5),
        lambda f, b: len(symbols(b)) == 12,
    )
    assert feed.shard_count() == 3 and okx.connections == 3
    assert sorted(len(c) for c in okx.channels_by_connection) != [12]
    assert sum(len(c) for c in okx.channels_by_connection) == 12


def test_a_refused_channel_is_said_and_the_others_stream(okx: FakeOkx) -> None:
    okx.refuse = {"C01-USDT"}
    feed, batches = run_until(
        okx, lambda url: source(okx, url), lambda f, b: "C00/USDT" in symbols(b) and f.refused
    )
    assert feed.refused == ["60018: Wrong URL or channel:bbo-tbt,instId:C01-USDT doesn't exist"]
    assert "C01/USDT" not in symbols(batches) and feed.reconnects == 0


def test_unanswered_subscriptions_mean_connecting_again(
    okx: FakeOkx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(okx_ws, "ACK_TIMEOUT_S", 0.3)
    okx.ack_delay_s = 5.0
    feed, _ = run_until(okx, lambda url: source(okx, url), lambda f, b: f.connects >= 2)
    assert okx.connections >= 2 and feed.reconnects >= 1


def test_a_quiet_connection_is_pinged_and_kept(okx: FakeOkx) -> None:
    okx.silent = True
    feed, _ = run_until(
        okx,
        lambda url: source(okx, url, ping_s=0.1, ping_timeout_s=1.0, silence_s=5.0),
        lambda f, b: okx.pings >= 3,
    )
    assert feed.reconnects == 0  # each ping got its pong


def test_pongs_that_stop_are_noticed_at_the_deadline(okx: FakeOkx) -> None:
    okx.silent = True
    okx.pong = False
    feed, _ = run_until(
        okx,
        lambda url: source(okx, url, ping_s=0.1, ping_timeout_s=0.3, silence_s=5.0),
        lambda f, b: f.reconnects >= 2,
    )
    assert okx.connections >= 2 and okx.pings >= 2 and feed.connects >= 2


def test_an_upgrade_notice_reconnects_at_once(okx: FakeOkx) -> None:
    okx.upgrade_after = 10
    _feed, _ = run_until(okx, lambda url: source(okx, url), lambda f, b: f.connects >= 2)
    subscribes = [r for r in okx.requests if r.get("op") == "subscribe"]
    assert len(subscribes) >= 2 and subscribes[0]["args"] == subscribes[1]["args"]


def test_late_messages_are_dropped_and_malformed_ones_counted(okx: FakeOkx) -> None:
    okx.stale_every = 4
    okx.malformed_every = 7
    feed, _ = run_until(
        okx, lambda url: source(okx, url), lambda f, b: f.out_of_order >= 2 and f.malformed >= 2
    )
    assert feed.reconnects == 0


def test_paper_trading_on_okxs_stream_end_to_end(okx: FakeOkx, tmp_path: Path) -> None:
    """Wired as a start wires it: a 3 % drop below the hour's level is bought."""

    def drop() -> None:
        okx.prices["C00-USDT"] = D("9.7")

    feed, position = buys_a_drop(okx, "okx", "C00/USDT", drop, tmp_path)
    assert isinstance(feed, OkxWebsocketSource)
    assert D("9.68") < position.entry_price < D("9.75")  # the ask, a tick above the bid
    assert "/api/v5/public/instruments" in okx.rest_requests
