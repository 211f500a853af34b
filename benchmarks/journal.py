"""How long the journal's durable commits take on this disk, and what the event loop feels.

The journal commits every intent (before its order is sent) and every fill with
synchronous=FULL: each is an fsync. Prints p50/p99/max in milliseconds of:

  - `record_intent` and `record_fill`, called directly (what a commit costs here);
  - the event loop's stall while 2,000 intents and fills are committed on the loop, and
    while they go through the engine's journal writer (`engine.journal_writer`), measured
    by a task that asks to run every 0.5 ms.

DESIGN.md and the engine-room issue: when a commit's p99 exceeds 2 ms, commits run off the
loop, each intent still on disk before its order is sent.

`--load N` runs N processes that write and fsync 1 MB files on the same disk meanwhile,
as a busy machine would (a second bot, a backup, the OS).

Run: .venv/bin/python benchmarks/journal.py [--n 2000] [--dir DIR] [--load N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import trio
import trio.lowlevel

from tradebot_tui.core.orders import Fill, OrderIntent, Purpose, Side
from tradebot_tui.journal.store import Journal
from tradebot_tui.journal.writer import JournalWriter

# A process that keeps the disk busy: 1 MB written and fsynced, again and again.
LOADER = """
import os, sys
data = os.urandom(1 << 20)
while True:
    with open(sys.argv[1], "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
"""


def intent(n: int) -> OrderIntent:
    return OrderIntent(
        f"tb-bench-abcdefgh-{n}",
        "BTC/USDT",
        Side.BUY,
        Purpose.ENTRY,
        Decimal("0.00147"),
        Decimal("68000"),
        n,
        reserved=Decimal("100.0959"),
    )


def fill(n: int) -> Fill:
    return Fill(f"tb-bench-abcdefgh-{n}", Decimal("0.00147"), Decimal("68000"), Decimal("0.1"), n)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} p50 {statistics.median(values):6.3f} ms   p99 {pct(values, 0.99):6.3f} ms"
        f"   max {max(values):6.3f} ms   (n={len(values)})"
    )


def direct(folder: Path, n: int) -> tuple[list[float], list[float]]:
    journal = Journal.open(folder / "direct.db", profile="bench")
    intents, fills = [], []
    for i in range(1, n + 1):
        t = time.perf_counter()
        journal.record_intent(intent(i))
        intents.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        journal.record_fill(fill(i), "BTC/USDT", Decimal(i), Decimal(i))
        fills.append((time.perf_counter() - t) * 1000)
    journal.close()
    return intents, fills


async def probe(stalls: list[float]) -> None:
    """Ask to run every 0.5 ms; record how much later than that each wake-up came (ms)."""
    while True:
        t = time.perf_counter()
        await trio.sleep(0.0005)
        stalls.append(max(0.0, (time.perf_counter() - t) * 1000 - 0.5))


def on_loop(folder: Path, n: int) -> list[float]:
    """The loop's stalls when the same commits run on it (the engine before the writer)."""
    journal = Journal.open(folder / "loop.db", profile="bench")
    stalls: list[float] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe, stalls)
            for i in range(1, n + 1):
                journal.record_intent(intent(i))
                await trio.lowlevel.checkpoint()
                journal.record_fill(fill(i), "BTC/USDT", Decimal(i), Decimal(i))
                await trio.lowlevel.checkpoint()
            nursery.cancel_scope.cancel()

    trio.run(main)
    journal.close()
    return stalls


def through_writer(folder: Path, n: int) -> tuple[list[float], list[float]]:
    """Intents awaited (as the router does before sending), fills queued; loop stalls."""
    journal = Journal.open(folder / "writer.db", profile="bench")
    stalls: list[float] = []
    waits: list[float] = []

    async def main() -> None:
        writer = JournalWriter(journal, on_error=lambda exc: None)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            nursery.start_soon(probe, stalls)
            for i in range(1, n + 1):
                t = time.perf_counter()
                await writer.intent(intent(i))
                waits.append((time.perf_counter() - t) * 1000)
                writer.fill(fill(i), "BTC/USDT", Decimal(i), Decimal(i))
            await writer.drain()
            nursery.cancel_scope.cancel()

    trio.run(main)
    journal.close()
    return stalls, waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to test")
    parser.add_argument("--load", type=int, default=0, help="processes writing the disk meanwhile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        loaders = [
            subprocess.Popen([sys.executable, "-c", LOADER, str(folder / f"load-{i}")])
            for i in range(args.load)
        ]
        try:
            intents, fills = direct(folder, args.n)
            loop_stalls = on_loop(folder, args.n)
            stalls, waits = through_writer(folder, args.n)
        finally:
            for loader in loaders:
                loader.kill()
                loader.wait()
    busy = f", {args.load} process(es) writing the disk" if args.load else ""
    print(f"journal commits on {args.dir or tempfile.gettempdir()} (synchronous=FULL, WAL{busy})")
    print(line("record_intent (direct)", intents))
    print(line("record_fill (direct)", fills))
    print(line("intent awaited through the writer", waits))
    print(line("event-loop stall, commits on the loop", loop_stalls))
    print(line("event-loop stall with the writer", stalls))
    verdict = "off the loop" if pct(intents + fills, 0.99) > 2.0 else "on the loop would do"
    print(f"commit p99 {pct(intents + fills, 0.99):.3f} ms vs the 2 ms goal: {verdict}")


if __name__ == "__main__":
    main()
