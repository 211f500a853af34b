"""The whole engine's CPU a websocket message, on every venue's fake.

For each venue (Binance, Bybit, OKX, Kraken, Coinbase) its fake runs in a process of its
own and streams `--symbols` coins at `--rate` messages a second each (5,000 a second by
default); the real engine (the venue's websocket source, the drop-trigger trader, the
paper broker) consumes them for `--seconds`. Prints, per venue, the messages received a
second, the engine process's CPU, and its CPU a message beside what trio-websocket spends
just receiving one from the Binance fake on the same machine (the ratio; goal <= 0.4).

Run: .venv/bin/python benchmarks/venue_feed.py [--seconds 10] [--symbols 500] [--rate 10]
     [--venues bybit,okx]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.feed import receive_only  # noqa: E402
from tradebot_tui.config.validate import from_dict  # noqa: E402
from tradebot_tui.engine.engine import Engine  # noqa: E402
from tradebot_tui.exchange.base import QuoteBook  # noqa: E402
from tradebot_tui.exchange.binance_ws import BinanceWebsocketSource  # noqa: E402
from tradebot_tui.exchange.bybit_ws import BybitWebsocketSource  # noqa: E402
from tradebot_tui.exchange.ccxt_markets import make_exchange  # noqa: E402
from tradebot_tui.exchange.client import ExchangeClient  # noqa: E402
from tradebot_tui.exchange.coinbase_ws import CoinbaseWebsocketSource  # noqa: E402
from tradebot_tui.exchange.kraken_ws import KrakenWebsocketSource  # noqa: E402
from tradebot_tui.exchange.okx_ws import OkxWebsocketSource  # noqa: E402
from tradebot_tui.exchange.paper import QuotePaperBroker  # noqa: E402
from tradebot_tui.exchange.universe import UniverseRule  # noqa: E402

SOURCES: dict[str, Any] = {
    "binance": BinanceWebsocketSource,
    "bybit": BybitWebsocketSource,
    "okx": OkxWebsocketSource,
    "kraken": KrakenWebsocketSource,
    "coinbase": CoinbaseWebsocketSource,
}
GOAL = 0.4


def fake(venue: str, symbols: int, rate: float) -> tuple[subprocess.Popen[str], str, str]:
    """The venue's fake in its own process: (process, REST URL, websocket URL)."""
    if venue == "binance":
        argv = ["tests.fake_exchange", "--symbols", str(symbols), "--rate", str(rate)]
        argv += ["--slices", "100"]
    else:
        argv = ["tests.fake_venues", venue, "--symbols", str(symbols), "--rate", str(rate)]
    server = subprocess.Popen(
        [sys.executable, "-m", *argv], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    rest = server.stdout.readline().split()[1]
    ws = server.stdout.readline().split()[1]
    return server, rest, ws


async def measure(venue: str, rest: str, ws: str, symbols: int, seconds: float) -> dict[str, float]:
    settings = from_dict(
        {
            "strategy": {"window_s": 60, "trigger_pct": 0.15},
            "risk": {"max_positions": 50, "cooldown_s": 60, "stale_after_s": 0},
            "budget": {"initial": 100_000},
        },
        "benchmark",
    )
    client = ExchangeClient(make_exchange(venue, rest_url=rest, timeout_s=10))
    quotes = QuoteBook()
    rule = UniverseRule("USDT", "static", tuple(f"C{i:03d}/USDT" for i in range(symbols)))
    source = SOURCES[venue](client, rule, quotes, ws_url=ws)
    engine = Engine(settings, source, QuotePaperBroker(Decimal("0.001"), quotes), clock=lambda: 0)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        with trio.fail_after(60):
            while source.messages < symbols * 3:  # noqa: ASYNC110 (a count, not an event)
                await trio.sleep(0.1)
        await trio.sleep(2.0)
        messages0, cpu0, t0 = source.messages, time.process_time(), time.perf_counter()
        await trio.sleep(seconds)
        messages = source.messages - messages0
        cpu, elapsed = time.process_time() - cpu0, time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return {
        "rate": messages / elapsed,
        "cpu": cpu / elapsed * 100,
        "us": cpu * 1e6 / max(messages, 1),
        "malformed": source.malformed,
        "reconnects": source.reconnects,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s per coin")
    parser.add_argument("--venues", default=",".join(SOURCES))
    args = parser.parse_args()
    venues = [v for v in args.venues.split(",") if v]
    unknown = [v for v in venues if v not in SOURCES]
    if unknown:
        parser.error(f"no fake for {', '.join(unknown)}: one of {', '.join(SOURCES)}")
    _ours, theirs = receive_only(min(args.seconds, 5.0), args.symbols, args.rate)
    wanted = args.symbols * args.rate
    print(
        f"the engine on each venue's fake: {args.symbols} coins x {args.rate:g} msg/s "
        f"(about {wanted:,.0f} msg/s), {args.seconds:g} s each"
    )
    print(f"  trio-websocket receiving alone (Binance fake): {theirs:6.1f} µs a message")
    worst = 0.0
    for venue in venues:
        server, rest, ws = fake(venue, args.symbols, args.rate)
        try:
            got = trio.run(measure, venue, rest, ws, args.symbols, args.seconds)
        finally:
            server.kill()
            server.wait()
        ratio = got["us"] / theirs
        worst = max(worst, ratio)
        print(
            f"  {venue:9s} {got['rate']:8,.0f} msg/s  CPU {got['cpu']:5.1f} %  "
            f"{got['us']:6.1f} µs a message  = {ratio:4.2f}x trio-websocket's receive  "
            f"(goal <= {GOAL}x) {'met' if ratio <= GOAL else 'NOT met'}"
            f"  malformed {got['malformed']}, reconnects {got['reconnects']}"
        )
    print(
        f"  worst venue: {worst:.2f}x   goal <= {GOAL}x on every venue   "
        f"{'met' if worst <= GOAL else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
