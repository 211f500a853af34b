"""Soak: millions of ticks through the live engine, the universe churning; memory and fds flat.

The engine runs as the app runs it on paper against an exchange: a feed with a top-N
universe (20 coins of 500 here) that changes every `--churn` ticks, a paper broker filling
at the feed's quotes, a paper journal on disk (every order written ahead of its send), and
a snapshot published at the UI's rate. Coins are bought on drops and sold on rises, so some
are held when they leave the universe (held means watched: the feed keeps them).

Prints, every `--every` ticks: ticks, RSS, open fds and per-symbol sizes; then the growth of
RSS after warm-up (the first 10 % of the run) and of fds. Goals (issue 15, item 5): RSS
growth after warm-up <= 5 MB, open fds flat.

Run: .venv/bin/python benchmarks/soak.py [--ticks 10000000] [--churn 100000]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import OfflineFeed  # noqa: E402
from tradebot_tui.config.validate import from_dict  # noqa: E402
from tradebot_tui.core.ticks import Tick  # noqa: E402
from tradebot_tui.engine.engine import Engine  # noqa: E402
from tradebot_tui.engine.logs import LogRing  # noqa: E402
from tradebot_tui.exchange.base import QuoteBook, TickBatch  # noqa: E402
from tradebot_tui.exchange.paper import QuotePaperBroker  # noqa: E402
from tradebot_tui.journal.store import Journal  # noqa: E402

COINS = 500
UNIVERSE = 20
BATCH_SECONDS = 50  # ticks per batch: one per fed coin per simulated second
AHEAD_MS = 2 * BATCH_SECONDS * 1000  # the feed runs two batches ahead of the engine at most
START_MS = 1_700_000_000_000

SETTINGS = from_dict(
    {
        "strategy": {"window_s": 600, "trigger_pct": 1.5},
        "budget": {"stake": 50, "initial": 1000},
        "risk": {"stale_after_s": 0, "cooldown_s": 300, "max_positions": 5},
        "exits": {"take_profit_pct": 2, "stop_loss_pct": 3, "max_hold_s": 3600},
    },
    "soak",
)


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class SoakFeed(OfflineFeed):
    """The exchange feed's universe logic, fed from a generator instead of a socket."""

    def __init__(
        self, quotes: QuoteBook, total: int, churn: int, consumed: Callable[[], int]
    ) -> None:
        super().__init__(quotes, COINS, sorted(f"C{i}/USDT" for i in range(COINS))[:UNIVERSE])
        self._phase = {s: float(i) for i, s in enumerate(self._raw)}
        self.rng = random.Random(7)
        self.total = total
        self.churn = churn
        self.consumed = consumed  # the engine time of the last batch it processed
        self.sent = 0
        self.sent_ms = 0  # the time of the last tick sent
        self.refreshes = 0
        self.done = trio.Event()

    def price(self, symbol: str, second: int) -> float:
        """A slow wave per coin (drops that trigger, rises that exit) and a faster ripple."""
        phase = self._phase[symbol]
        return 100.0 * (
            1
            + 0.03 * math.sin(2 * math.pi * second / 1800 + phase)
            + 0.005 * math.sin(2 * math.pi * second / 97 + 2 * phase)
        )

    async def run(
        self,
        send: trio.MemorySendChannel[TickBatch],
        *,
        task_status: Any = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.state = "live"
        task_status.started()
        second = 0
        next_churn = self.churn
        while self.sent < self.total:
            # A real feed is paced by the exchange: the engine is a batch or two behind,
            # not 256 (the tick channel's depth); a refresh comes while it is current.
            # Counted in time, not ticks: the engine drops the ticks of a coin that left
            # the feed while its batch waited (one sold outside the universe).
            behind = 0 if self.sent >= next_churn else AHEAD_MS
            while self.sent_ms - self.consumed() > behind:  # noqa: ASYNC110 (no event for it)
                await trio.sleep(0.001)
            if self.sent >= next_churn:
                next_churn += self.churn
                self.universe(self.rng.sample(sorted(self._raw), UNIVERSE))
                self.added.clear()  # no candles to backfill from here
                self.refreshes += 1
            symbols = list(self._markets)
            ticks = []
            for _ in range(BATCH_SECONDS):
                ts = START_MS + second * 1000
                for symbol in symbols:
                    ticks.append(Tick(ts, symbol, self.price(symbol, second)))
                second += 1
            for symbol in symbols:  # paper fills at the last quote
                p = self.price(symbol, second - 1)
                self.quotes.update(symbol, p * 0.9999, p * 1.0001, ts)
            self.sent += len(ticks)
            self.sent_ms = ts
            await send.send(TickBatch(ticks))
        self.done.set()
        await trio.sleep_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ticks", type=int, default=10_000_000)
    parser.add_argument("--churn", type=int, default=100_000, help="ticks between refreshes")
    parser.add_argument("--every", type=int, default=1_000_000, help="ticks between samples")
    parser.add_argument(
        "--trace", action="store_true", help="print where memory grew after warm-up (slow)"
    )
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start(8)
    traced: list[tracemalloc.Snapshot] = []

    tmp = Path(tempfile.mkdtemp(prefix="tradebot-soak-"))
    journal = Journal.open(tmp / "journals" / "paper-soak.db", profile="soak")
    quotes = QuoteBook()
    engine: Engine | None = None
    feed = SoakFeed(quotes, args.ticks, args.churn, lambda: engine.now_ms if engine else 0)
    broker = QuotePaperBroker(Decimal("0.001"), quotes, lambda s: feed.markets().get(s))
    published = 0

    def publish(_snapshot: object) -> None:
        nonlocal published
        published += 1

    engine = Engine(
        SETTINGS,
        feed,
        broker,
        publish=publish,
        log_ring=LogRing(),
        journal=journal,
        clock=lambda: START_MS,
    )
    samples: list[tuple[int, float, int, int]] = []
    warmup = args.ticks // 10

    def sample() -> None:
        gc.collect()
        if args.trace and engine.ticks >= warmup:
            traced[min(len(traced), 1) :] = [tracemalloc.take_snapshot()]
        samples.append((engine.ticks, time.perf_counter(), rss_kb(), open_fds()))
        trader = engine.trader
        history = engine.views.history
        print(
            f"  {engine.ticks:>11,} ticks  RSS {samples[-1][2] / 1024:7.1f} MB  "
            f"fds {samples[-1][3]:3d}  books {len(trader.books):3d}  "
            f"fed {len(feed.markets()):3d}  histories {len(history) if history else 0:3d}  "
            f"held {len(trader.held_symbols()):2d}  trades {engine.trades:,}",
            flush=True,
        )

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            next_sample = 0
            while not feed.done.is_set() or engine.now_ms < feed.sent_ms:
                if engine.ticks >= next_sample:
                    sample()
                    next_sample += args.every
                await trio.sleep(0.05)
            sample()
            nursery.cancel_scope.cancel()

    print(
        f"soak: {args.ticks:,} ticks, {UNIVERSE} of {COINS} coins, a refresh every "
        f"{args.churn:,} ticks, paper fills, journal on disk"
    )
    started = time.perf_counter()
    trio.run(run)
    elapsed = time.perf_counter() - started
    journal.close()

    after = [s for s in samples if s[0] >= warmup]
    base = after[0] if after else samples[0]
    end = samples[-1]
    growth_mb = (max(s[2] for s in after or samples) - base[2]) / 1024
    fds = sorted({s[3] for s in after or samples})
    engine.trader.ledger.check()
    print()
    print(
        f"ticks          {feed.sent:,} sent, {engine.ticks:,} traded in {elapsed:.1f} s "
        f"({engine.ticks / elapsed:,.0f}/s); the rest were of coins that left the feed "
        "while their batch waited"
    )
    print(f"refreshes      {feed.refreshes}  trades {engine.trades:,}  snapshots {published:,}")
    print(
        f"RSS            {base[2] / 1024:.1f} MB after warm-up ({base[0]:,} ticks) -> "
        f"{end[2] / 1024:.1f} MB at the end; growth (max after warm-up) {growth_mb:+.1f} MB "
        f"(goal <= 5 MB: {'met' if growth_mb <= 5 else 'MISSED'})"
    )
    print(
        f"open fds       after warm-up {base[3]}, at the end {end[3]}, seen {fds} "
        f"({'flat' if len(fds) == 1 else 'NOT flat'})"
    )
    if args.trace and len(traced) == 2:
        print("\nwhere memory grew after warm-up (tracemalloc, top 12):")
        for stat in traced[1].compare_to(traced[0], "traceback")[:12]:
            print(f"  {stat.size_diff / 1024:+9.1f} KB  {stat.count_diff:+7d} blocks")
            for line in stat.traceback.format()[-6:]:
                print("     ", line)


if __name__ == "__main__":
    main()
