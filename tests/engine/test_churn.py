"""Bounded under churn: per-symbol state follows the universe, whatever it did before.

A feed refreshes its universe 1,000 times, each time 6 coins of 300 (a top-N list that
changes every hour would do the same over weeks). The engine trades them on paper, so
coins are held when they leave the universe. After every refresh, each per-symbol
structure must hold only what is fed now (the universe plus the held coins) and what the
trader must still remember (dust, a cooldown).
"""

from __future__ import annotations

import math
import random
from decimal import Decimal as D
from typing import Any

import trio

from tests.helpers import OfflineFeed
from tradebot_tui.config.validate import from_dict
from tradebot_tui.core.ticks import Tick
from tradebot_tui.engine.engine import Engine
from tradebot_tui.exchange.base import QuoteBook, TickBatch
from tradebot_tui.exchange.paper import QuotePaperBroker

COINS = 300
UNIVERSE = 6
REFRESHES = 1000
START = 1_700_000_000_000
MINUTE = 60_000
MINUTES_PER_STEP = 8  # a refresh, then eight minutes of ticks
STEP = MINUTES_PER_STEP * MINUTE
COOLDOWN = 600_000

SETTINGS = from_dict(
    {
        "strategy": {"window_s": 300, "trigger_pct": 1.5},
        "budget": {"stake": 50},
        "risk": {"stale_after_s": 0, "cooldown_s": 600, "max_positions": 4},
        "exits": {"take_profit_pct": 2, "stop_loss_pct": 3, "max_hold_s": 7200},
    },
    "test",
)


def price(symbol: str, n: int) -> float:
    """A wave per coin (its own phase): drops that trigger entries, rises that exit."""
    i = int(symbol[1:].partition("/")[0])
    return 100.0 * (1 + 0.04 * math.sin(n / 3 + i) + 0.01 * math.sin(n * 1.7 + 2 * i))


class ChurnFeed(OfflineFeed):
    """Each step: a new universe (a refresh), then a tick per fed coin each minute."""

    def __init__(self, quotes: QuoteBook) -> None:
        super().__init__(quotes, COINS, [f"C{i}/USDT" for i in range(UNIVERSE)])
        self.rng = random.Random(5)
        self.step = 0
        self.go = trio.Event()
        self.held_at_refresh: frozenset[str] = frozenset()

    def _rebuild(self) -> bool:
        changed = super()._rebuild()
        self.held_at_refresh = self._held
        return changed

    async def run(
        self,
        send: trio.MemorySendChannel[TickBatch],
        *,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.state = "live"
        task_status.started()
        while True:
            await self.go.wait()
            self.go = trio.Event()
            if self.step:
                self.universe(self.rng.sample(sorted(self._raw), UNIVERSE))
                self.added.clear()  # no history to fetch here
            ticks = []
            for k in range(MINUTES_PER_STEP):
                minute = self.step * MINUTES_PER_STEP + k
                ts = START + minute * MINUTE
                for symbol in self._markets:
                    p = price(symbol, minute)
                    ticks.append(Tick(ts, symbol, p))
            for symbol in self._markets:  # paper fills at the last quote
                self.quotes.update(symbol, ticks[-1].price * 0.9999, ticks[-1].price * 1.0001, ts)
            self.step += 1
            await send.send(TickBatch(ticks))


def test_a_thousand_universe_refreshes_leave_state_the_size_of_universe_plus_held() -> None:
    quotes = QuoteBook()
    feed = ChurnFeed(quotes)
    broker = QuotePaperBroker(D("0.001"), quotes, lambda s: feed.markets().get(s))
    engine = Engine(SETTINGS, feed, broker, publish=lambda snap: None, clock=lambda: 0)
    trader = engine.trader
    max_positions = SETTINGS.risk.max_positions
    worst = {"books": 0, "fed": 0, "history": 0, "quotes": 0}
    held_outside = 0
    trades_seen = 0

    async def main() -> None:
        nonlocal held_outside, trades_seen
        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                for step in range(REFRESHES + 1):
                    ticks = engine.ticks
                    feed.go.set()
                    with trio.fail_after(5):
                        while engine.ticks == ticks or engine.following:
                            await trio.sleep(0.001)
                    snap = engine.snapshot()  # views follow the universe too
                    fed = set(feed.markets())
                    held = trader.held_symbols()
                    now = engine.time_ms()
                    # Books that must stay: dust, or a cooldown still running at the last
                    # refresh (one step, eight minutes, ago at most).
                    remembered = {
                        s
                        for s, b in trader.books.items()
                        if s in trader.dust
                        or (b.last_exit_ts is not None and now - b.last_exit_ts < COOLDOWN + STEP)
                    }
                    assert held <= fed, f"step {step}: a held coin is not fed"
                    # Fed: the universe, plus what was held at the refresh (the engine tells
                    # the feed what it holds now a moment later, at its next snapshot).
                    assert feed.outside_universe() <= feed.held_at_refresh | held
                    assert len(feed.held_at_refresh) <= max_positions + len(trader.dust)
                    assert set(trader.books) <= fed | remembered, f"step {step}"
                    assert engine.views.history is not None
                    assert len(engine.views.history) <= len(fed)
                    assert set(quotes.quotes) <= fed and set(feed.by_id.values()) == fed
                    assert {r.symbol for r in snap.watch} <= fed
                    held_outside = max(held_outside, len(held - set(feed._selected)))
                    worst["books"] = max(worst["books"], len(trader.books))
                    worst["fed"] = max(worst["fed"], len(fed))
                    worst["history"] = max(worst["history"], len(engine.views.history))
                    worst["quotes"] = max(worst["quotes"], len(quotes.quotes))
                trades_seen = engine.trades
                nursery.cancel_scope.cancel()

    trio.run(main)
    # The run did what it is meant to: trades, and coins held after leaving the universe.
    assert trades_seen >= 20 and held_outside >= 1
    # Bounded by universe + held (+ the coins still in their cooldown), not by the 300 seen.
    cap = UNIVERSE + SETTINGS.risk.max_positions
    assert worst["fed"] <= cap and worst["history"] <= cap and worst["quotes"] <= cap
    assert worst["books"] <= cap + 2 * UNIVERSE  # cooldown: 10 minutes, two refreshes
    trader.ledger.check()


class ScriptedFeed(OfflineFeed):
    """A feed that sends what the test gives it; `universe` refreshes like a real one."""

    def __init__(self, quotes: QuoteBook, symbols: list[str]) -> None:
        super().__init__(quotes, 10, symbols)
        self.send_channel, self.receive = trio.open_memory_channel[TickBatch](16)

    async def run(
        self,
        send: trio.MemorySendChannel[TickBatch],
        *,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.state = "live"
        task_status.started()
        async for batch in self.receive:
            await send.send(batch)


def drop_after_refresh(refresh: bool) -> tuple[set[str], set[str]]:
    """C0 drops 5 % in a batch the feed made before a refresh removed C0 (or without one).

    Returns the symbols with a book and those bought.
    """
    quotes = QuoteBook()
    feed = ScriptedFeed(quotes, [f"C{i}/USDT" for i in range(3)])
    broker = QuotePaperBroker(D("0.001"), quotes, lambda s: feed.markets().get(s))
    engine = Engine(SETTINGS, feed, broker, publish=lambda snap: None, clock=lambda: 0)
    symbols = [f"C{i}/USDT" for i in range(3)]
    flat = [Tick(START + m * MINUTE, s, 100.0) for m in range(10) for s in symbols]
    drop = [Tick(START + 10 * MINUTE, s, 95.0 if s == "C0/USDT" else 100.0) for s in symbols]
    for s in symbols:
        quotes.update(s, 94.99, 95.01, START + 10 * MINUTE)

    async def main() -> None:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await feed.send_channel.send(TickBatch(flat))
                with trio.fail_after(5):
                    while engine.ticks < len(flat):
                        await trio.sleep(0.001)
                if refresh:  # the drop's batch was queued before C0 left the universe
                    feed.universe(["C1/USDT", "C2/USDT", "C3/USDT"])
                await feed.send_channel.send(TickBatch(drop))
                with trio.fail_after(5):
                    while engine.now_ms < drop[0][0] or engine.following:
                        await trio.sleep(0.001)
                nursery.cancel_scope.cancel()

    trio.run(main)
    trader = engine.trader
    bought = {s for s, b in trader.books.items() if b.position is not None}
    return set(trader.books), bought


def test_a_coin_that_left_the_universe_does_not_trade_on_ticks_queued_before_the_refresh() -> None:
    books, bought = drop_after_refresh(refresh=False)
    assert bought == {"C0/USDT"}  # the drop triggers an entry while C0 is in the universe
    books, bought = drop_after_refresh(refresh=True)
    assert bought == set() and "C0/USDT" not in books
