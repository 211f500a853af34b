"""The whole engine on the fake Binance: paper on exchange data, and live orders.

Real ccxt (REST) under the engine's client; tick times come from a fast fake clock so
that the one-minute anchor window passes in a second of test time.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest
import trio

from tests.exchange.test_live_broker import make_broker, make_client
from tests.fake_exchange import FakeBinance, Market
from tradebot_tui.cli import main
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.validate import from_dict
from tradebot_tui.core.book import Status, SymbolBook
from tradebot_tui.core.lifecycle import State
from tradebot_tui.engine.commands import ExitPosition
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.reconciliation import quote_difference
from tradebot_tui.engine.snapshot import EngineSnapshot
from tradebot_tui.exchange.base import QuoteBook
from tradebot_tui.exchange.ccxt_markets import make_exchange
from tradebot_tui.exchange.ccxt_polling import CcxtPollingSource
from tradebot_tui.exchange.client import ExchangeClient
from tradebot_tui.exchange.paper import QuotePaperBroker
from tradebot_tui.exchange.reports import Balance
from tradebot_tui.exchange.resilience import CircuitBreaker, WeightBudget
from tradebot_tui.exchange.universe import UniverseRule

START = 1_767_225_600_000
SETTINGS = from_dict(
    {
        "strategy": {"window_s": 60},
        "risk": {"stale_after_s": 0, "cooldown_s": 60},
        "market": {"source": "ccxt", "symbols": ["BTC/USDT"]},
    },
    "test",
)


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


def _sections(settings: Settings) -> dict[str, dict[str, object]]:
    from tradebot_tui.config.validate import to_dict

    return to_dict(settings)  # type: ignore[return-value]


def fast_clock() -> object:
    counter = itertools.count()
    return lambda: START + next(counter) * 2000  # two seconds a poll


async def warm_then_drop(engine: Engine, fake: FakeBinance) -> Callable[[], SymbolBook]:
    """Wait until BTC/USDT has an anchor, then drop its price 2.9 % below it (an entry).

    Returns a getter of the symbol's book.
    """

    def book() -> SymbolBook:
        return engine.trader.books["BTC/USDT"]

    while "BTC/USDT" not in engine.trader.books or book().anchor_price is None:
        await trio.sleep(0.02)
    fake.set_price("BTCUSDT", "68000.00")
    return book


def run_scenario(fake: FakeBinance, engine: Engine, source: CcxtPollingSource) -> EngineSnapshot:
    """Warm up, drop 2.9 % (entry), rise past take-profit (exit); the last snapshot."""

    async def main() -> EngineSnapshot:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                book = await warm_then_drop(engine, fake)
                while engine.trader.open_count == 0 or book().state is not State.IN_POSITION:
                    await trio.sleep(0.02)
                fake.set_price("BTCUSDT", "69100.00")  # above take-profit 68000 * 1.015
                while engine.trades < 1 or engine.following:
                    await trio.sleep(0.02)
                snap = engine.snapshot()
                nursery.cancel_scope.cancel()
        return snap

    return trio.run(main)


def test_paper_on_exchange_data(fake: FakeBinance) -> None:
    quotes = QuoteBook()
    client = make_client(fake)
    rule = UniverseRule("USDT", "static", ("BTC/USDT",))
    source = CcxtPollingSource(client, rule, quotes, interval_s=0.02, clock_ms=fast_clock())  # type: ignore[arg-type]
    broker = QuotePaperBroker(D("0.001"), quotes, lambda s: source.markets().get(s))
    engine = Engine(SETTINGS, source, broker, clock=lambda: 0)
    snap = run_scenario(fake, engine, source)
    ledger = engine.trader.ledger
    ledger.check()
    assert engine.trades == 1 and engine.views.stats.total.wins == 1
    assert fake.orders == {}  # paper: nothing reached the exchange
    assert snap.feed == "live" or snap.feed.startswith("stale")
    order = snap.orders[-1]
    # Paper buys at the ask, sells at the bid of the fake's book.
    assert order.avg_price is not None and order.avg_price > D("68000")


@pytest.mark.parametrize("fees", ["quote", "coin", "bnb"], ids=lambda f: f"fee-in-{f}")
def test_live_orders_match_the_exchange_to_the_last_digit(fake: FakeBinance, fees: str) -> None:
    base_fee = fees == "coin"
    fake.base_fee_on_buy = base_fee
    if fees == "bnb":  # "Use BNB to pay for fees": 25% off, taken from the BNB balance
        fake.markets["BNBUSDT"] = Market("BNB", "USDT", D("600.00"), step="0.00100000")
        fake.balances["BNB"] = D("1")
        fake.bnb_fees = True
    balances_before = dict(fake.balances)
    client = make_client(fake)
    rule = UniverseRule("USDT", "static", ("BTC/USDT",))
    source = CcxtPollingSource(client, rule, interval_s=0.02, clock_ms=fast_clock())  # type: ignore[arg-type]
    broker = make_broker(client, poll_s=0.02)
    engine = Engine(SETTINGS, source, broker, mode="LIVE", clock=lambda: 0)
    usdt_before = fake.balances["USDT"]
    snap = run_scenario(fake, engine, source)
    ledger = engine.trader.ledger
    ledger.check()
    assert len(fake.orders) == 2
    assert sorted(fake.create_requests) == sorted(fake.orders)  # each id sent once
    # What is left on the exchange is exactly our dust (a commission taken in the coin
    # leaves less than a whole step to sell).
    dust = engine.trader.dust.get("BTC/USDT")
    assert fake.balances["BTC"] == (dust.qty if dust else 0)
    assert (fake.balances["BTC"] > 0) is base_fee
    # Our books and the exchange's agree exactly on what the round trip made.
    # (The dust's cost is still in positions: quote that became coin.)
    # Commissions paid in BNB are fees too, but never left the quote balance.
    assert (
        ledger.realized_pnl - ledger.fees_paid - ledger.in_positions + engine.trader.fees_elsewhere
        == fake.balances["USDT"] - usdt_before
    )
    balances = {asset: Balance(amount, D(0)) for asset, amount in fake.balances.items()}
    assert quote_difference(engine.trader, balances, balances_before, D(0)) is None
    if fees == "bnb":
        bnb_spent = balances_before["BNB"] - fake.balances["BNB"]
        assert bnb_spent > 0 and engine.trader.fees_elsewhere == bnb_spent * D("600.00")
        assert ledger.fees_paid == engine.trader.fees_elsewhere  # every fee was paid in BNB
    else:
        assert engine.trader.fees_elsewhere == 0
    assert snap.circuit == "" and snap.mode == "LIVE"


def test_recorder_writes_replayable_files(
    fake: FakeBinance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quotes = QuoteBook()
    client = make_client(fake)
    rule = UniverseRule("USDT", "static", ("BTC/USDT", "ETH/USDT"))
    source = CcxtPollingSource(client, rule, quotes, interval_s=0.01, clock_ms=fast_clock())  # type: ignore[arg-type]
    broker = QuotePaperBroker(D("0.001"), quotes)
    folder = tmp_path / "recordings"
    engine = Engine(Settings(), source, broker, clock=lambda: 0, recordings=folder)

    async def go() -> None:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                while engine.ticks < 40:
                    await trio.sleep(0.02)
                nursery.cancel_scope.cancel()

    trio.run(go)
    files = sorted(folder.glob("ticks-*.jsonl.gz"))
    assert files and engine.recorder is not None and engine.recorder.recorded == engine.ticks
    assert main(["replay", *map(str, files)]) == 0
    assert f"ticks         {engine.ticks}" in capsys.readouterr().out


def test_rejected_live_entries_lose_no_budget(fake: FakeBinance) -> None:
    fake.fill_mode = "reject"
    client = make_client(fake)
    rule = UniverseRule("USDT", "static", ("BTC/USDT",))
    source = CcxtPollingSource(client, rule, interval_s=0.02, clock_ms=fast_clock())  # type: ignore[arg-type]
    engine = Engine(SETTINGS, source, make_broker(client, poll_s=0.02), clock=lambda: 0)

    async def go() -> EngineSnapshot:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await warm_then_drop(engine, fake)
                while not any(o.status == "rejected" for o in engine.snapshot().orders):
                    await trio.sleep(0.02)
                snap = engine.snapshot()
                nursery.cancel_scope.cancel()
        return snap

    snap = trio.run(go)
    ledger = engine.trader.ledger
    ledger.check()
    assert ledger.free == ledger.initial and ledger.reserved == 0
    assert "InsufficientFunds" in snap.orders[0].reason
    assert fake.orders == {}


def test_a_symbol_without_fresh_prices_is_stale_and_not_bought(fake: FakeBinance) -> None:
    settings = from_dict(
        {
            "strategy": {"window_s": 60},
            "risk": {"stale_after_s": 10},
            "market": {"source": "ccxt", "symbols": ["BTC/USDT", "ETH/USDT"]},
        },
        "test",
    )
    client = make_client(fake)
    rule = UniverseRule("USDT", "static", ("BTC/USDT", "ETH/USDT"))
    clock = fast_clock()
    source = CcxtPollingSource(client, rule, interval_s=0.02, clock_ms=clock)  # type: ignore[arg-type]
    broker = make_broker(client, poll_s=0.02)
    engine = Engine(settings, source, broker, clock=lambda: 0)

    async def go() -> dict[str, str]:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                while engine.trader.books.get("ETH/USDT") is None or (
                    engine.trader.books["ETH/USDT"].anchor_price is None
                ):
                    await trio.sleep(0.02)
                fake.silent_symbols.add("ETHUSDT")
                fake.set_price("ETHUSDT", "1900.00")  # a drop nobody hears of
                ticks = engine.ticks
                while engine.ticks < ticks + 10:
                    await trio.sleep(0.02)
                statuses = {row.symbol: row.status.value for row in engine.snapshot().watch}
                nursery.cancel_scope.cancel()
        return statuses

    statuses = trio.run(go)
    assert statuses == {"BTC/USDT": "watching", "ETH/USDT": "stale price"}
    assert fake.orders == {}


def test_an_exit_leaves_within_50_ms_while_a_slow_ticker_poll_is_in_flight(
    fake: FakeBinance,
) -> None:
    """Market data has a ccxt client of its own: an exit never waits for a ticker poll
    that takes seconds (the fake answers it after 3 s)."""
    from tradebot_tui.exchange.ccxt_markets import make_exchange

    settings = from_dict(
        {**_sections(SETTINGS), "exits": {"take_profit_pct": 50, "stop_loss_pct": 50}}, "test"
    )
    client = make_client(fake)
    client = ExchangeClient(
        client.exchange,
        market_data=make_exchange("binance", rest_url=fake.rest_url, timeout_s=5),
        budget=client.budget,
        breaker=client.breaker,
        timeout_s=5,
    )
    rule = UniverseRule("USDT", "static", ("BTC/USDT",))
    source = CcxtPollingSource(client, rule, interval_s=0.02, clock_ms=fast_clock())  # type: ignore[arg-type]
    engine = Engine(
        settings, source, make_broker(client, poll_s=0.02), mode="LIVE", clock=lambda: 0
    )
    took: list[float] = []

    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                book = await warm_then_drop(engine, fake)
                while book().state is not State.IN_POSITION or engine.following:
                    await trio.sleep(0.02)
                fake.inject("timeout", path="/api/v3/ticker", count=3, delay=3.0)
                while not fake.active.get("/api/v3/ticker/24hr"):
                    await trio.sleep(0.005)
                await trio.sleep(0.05)  # the slow poll is well under way
                sent = time.monotonic()
                engine.submit(ExitPosition("BTC/USDT"))
                while fake.requests.count(("POST", "/api/v3/order")) < 2:
                    await trio.sleep(0.002)
                exit_at = [t for t, m, p in fake.arrivals if (m, p) == ("POST", "/api/v3/order")]
                took.append(exit_at[-1] - sent)
                assert fake.active.get("/api/v3/ticker/24hr")  # the poll is still waiting
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert took[0] < 0.05, f"the exit left {took[0] * 1000:.0f} ms after the key"


def test_a_held_coin_dropped_from_the_universe_keeps_its_exits(fake: FakeBinance) -> None:
    """Held means watched: BTC is bought, then leaves the top-volume universe; it is still
    polled, shown as outside the universe, and its take-profit still fires."""
    fake.markets["ETHUSDT"].volume = D(1)  # BTC is the top coin at first
    settings = from_dict(
        {
            **_sections(SETTINGS),
            "market": {"source": "ccxt", "universe": "top_volume", "top_n": 1},
        },
        "test",
    )
    client = make_client(fake)
    rule = UniverseRule("USDT", "top_volume", top_n=1)
    source = CcxtPollingSource(client, rule, interval_s=0.02, refresh_s=0.1, clock_ms=fast_clock())  # type: ignore[arg-type]
    engine = Engine(
        settings, source, make_broker(client, poll_s=0.02), mode="LIVE", clock=lambda: 0
    )
    seen: list[tuple[bool, bool]] = []

    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    engine.run,
                )
                book = await warm_then_drop(engine, fake)
                while book().state is not State.IN_POSITION or engine.following:
                    await trio.sleep(0.02)
                fake.markets["ETHUSDT"].volume = D(10**9)  # ETH takes BTC's place
                while "ETH/USDT" not in source.markets():
                    await trio.sleep(0.02)
                snap = engine.snapshot()
                btc = next(r for r in snap.watch if r.symbol == "BTC/USDT")
                seen.append((btc.outside, snap.positions[0].outside))
                fake.set_price("BTCUSDT", "69100.00")  # past the take-profit
                while engine.trades < 1 or engine.following:
                    await trio.sleep(0.02)
                while "BTC/USDT" in source.markets():  # sold: the next refresh drops it
                    await trio.sleep(0.02)
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen == [(True, True)]
    assert engine.views.trades[0].exit_reason.value == "take_profit"
    assert list(source.markets()) == ["ETH/USDT"]


def test_a_held_coin_whose_feed_goes_quiet_is_priced_by_rest_and_its_exits_fire(
    fake: FakeBinance,
) -> None:
    """Exits do not wait for ticks: no ticker for BTC for `stale_after_s`, so its price is
    fetched by REST at exit priority; the status says so, and the take-profit fires."""
    settings = from_dict(
        {**_sections(SETTINGS), "risk": {"stale_after_s": 1, "cooldown_s": 60}}, "test"
    )
    client = make_client(fake)
    rule = UniverseRule("USDT", "static", ("BTC/USDT",))
    source = CcxtPollingSource(client, rule, interval_s=0.05, warmup_s=60)
    engine = Engine(settings, source, make_broker(client, poll_s=0.02), mode="LIVE")
    shown: set[Status] = set()

    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                book = await warm_then_drop(engine, fake)
                while book().state is not State.IN_POSITION or engine.following:
                    await trio.sleep(0.02)
                fake.silent_symbols = {"BTCUSDT"}  # the feed goes quiet for BTC
                while Status.IN_POSITION_REST not in shown:
                    shown.add(engine.trader.status("BTC/USDT", engine.time_ms())[0])
                    await trio.sleep(0.05)
                fake.set_price("BTCUSDT", "69100.00")  # past the take-profit
                while engine.trades < 1 or engine.following:
                    await trio.sleep(0.02)
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert engine.views.trades[0].exit_reason.value == "take_profit"
    assert fake.requests.count(("GET", "/api/v3/ticker/24hr")) > 0


def test_a_start_on_websocket_data_buys_a_drop_within_seconds(fake: FakeBinance) -> None:
    """The websocket source warms the anchors from candles: with the default hour-long
    window, a qualifying drop is bought at once, not an hour after the start."""
    from tradebot_tui.exchange.binance_ws import BinanceWebsocketSource

    settings = from_dict(
        {"risk": {"stale_after_s": 0}, "market": {"source": "websocket", "symbols": ["BTC/USDT"]}},
        "test",
    )
    assert settings.strategy.window_s == 3600
    took: list[float] = []

    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                url = await nursery.start(fake.serve_ws)
                quotes = QuoteBook()
                source = BinanceWebsocketSource(
                    make_client(fake),
                    UniverseRule("USDT", "static", ("BTC/USDT",)),
                    quotes,
                    ws_url=url,
                    warmup_s=settings.strategy.window_s,
                )
                broker = QuotePaperBroker(D("0.001"), quotes)
                engine = Engine(settings, source, broker)
                started = trio.current_time()
                await nursery.start(engine.run)
                book = engine.trader.books
                while "BTC/USDT" not in book or book["BTC/USDT"].anchor_price is None:
                    await trio.sleep(0.02)
                fake.set_price("BTCUSDT", "68000.00")  # 2.9 % below the hour's high
                while engine.trader.open_count == 0:
                    await trio.sleep(0.02)
                took.append(trio.current_time() - started)
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert took[0] < 10


def test_a_venue_that_answers_late_is_waited_for_then_traded_on() -> None:
    """Started with no venue to answer (no network, a maintenance): the engine comes up,
    says it is connecting, asks again with back-off, and trades once the venue is there."""
    with socket.socket() as probe:  # a port nothing listens on yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    late = FakeBinance()
    exchange = make_exchange("binance", rest_url=f"http://127.0.0.1:{port}", timeout_s=1.0)
    client = ExchangeClient(
        exchange,
        budget=WeightBudget(60_000),
        breaker=CircuitBreaker(50, 1.0),
        timeout_s=1.0,
        retries=1,
        backoff_base_s=0.02,
        backoff_cap_s=0.05,
    )
    quotes = QuoteBook()
    source = CcxtPollingSource(
        client, UniverseRule("USDT", "static", ("BTC/USDT",)), quotes, interval_s=0.05
    )
    source.connect_first_s, source.connect_cap_s = 0.1, 0.3
    snaps: list[EngineSnapshot] = []
    engine = Engine(SETTINGS, source, QuotePaperBroker(D("0.001"), quotes), publish=snaps.append)
    seen: dict[str, object] = {}

    async def go() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(engine.run)
                # Until the first attempt has failed (on a loaded machine the first
                # snapshots may come before it): bounded by the fail_after above.
                while not (
                    snaps
                    and snaps[-1].feed.startswith("connecting to binance...")
                    and "no answer" in snaps[-1].feed
                ):
                    await trio.sleep(0.02)
                seen["connecting"] = snaps[-1].feed
                seen["watch"] = snaps[-1].watch
                await trio.sleep(0.5)  # asked again meanwhile, still nothing
                late.start(port)
                while engine.ticks == 0:
                    await trio.sleep(0.02)
                seen["after"] = engine.snapshot().feed
                nursery.cancel_scope.cancel()

    try:
        trio.run(go)
    finally:
        late.stop()
    assert "no answer" in str(seen["connecting"]) and seen["watch"] == ()
    assert seen["after"] == "live" or str(seen["after"]).startswith("stale")
