"""Websocket feed throughput and tick-to-order-intent latency, against the fake Binance.

Prints:
  - parse: Binance combined-stream messages turned into ticks per second (our code alone,
    one core, no network);
  - live: the fake exchange in its own process serves 500 symbols x 10 bookTicker
    messages a second (5,000/s) over a loopback websocket; the real engine (websocket
    source, drop-trigger trader, paper broker) consumes them. Prints the engine process's
    CPU (goal <= 30 % of one core at 5,000/s) and its memory growth over that window, the
    messages received per second, how often the reader had to conflate (the engine
    behind), the latency from the moment a message
    is received to the moment the trader has decided on its tick (p50/p99 over every tick;
    for the ticks that produced an order intent, goal p99 <= 1 ms), and the lag: from the
    moment the fake sent a message (its send time rides in the message) to the decision,
    median over the first and the last third of the run. A feed that keeps up has no lag
    growth;
  - receive alone: CPU per message of our websocket client (wsproto driven in batches)
    and of trio-websocket, on the same stream, before any parsing.

Run: .venv/bin/python benchmarks/feed.py [--seconds S] [--symbols N] [--rate HZ]
     (--rate 40 --seconds 60: 20,000 messages/s sustained for a minute)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tradebot_tui.config.validate import from_dict  # noqa: E402
from tradebot_tui.core.ticks import Tick  # noqa: E402
from tradebot_tui.engine.engine import Engine  # noqa: E402
from tradebot_tui.engine.readings import rss_mb  # noqa: E402
from tradebot_tui.exchange import wsclient  # noqa: E402
from tradebot_tui.exchange.base import QuoteBook  # noqa: E402
from tradebot_tui.exchange.binance_ws import BinanceWebsocketSource, parse_message  # noqa: E402
from tradebot_tui.exchange.ccxt_markets import make_exchange  # noqa: E402
from tradebot_tui.exchange.client import ExchangeClient  # noqa: E402
from tradebot_tui.exchange.paper import QuotePaperBroker  # noqa: E402
from tradebot_tui.exchange.universe import UniverseRule  # noqa: E402


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def parse_rate(symbols: int, count: int = 200_000) -> float:
    rng = random.Random(1)
    by_id = {f"C{i:03d}USDT": f"C{i:03d}/USDT" for i in range(symbols)}
    ids = list(by_id)
    messages = []
    for n in range(count):
        sid = ids[n % len(ids)]
        p = 100 + rng.random()
        messages.append(
            json.dumps(
                {
                    "stream": f"{sid.lower()}@bookTicker",
                    "data": {
                        "u": n,
                        "s": sid,
                        "b": f"{p:.4f}",
                        "B": "1.0",
                        "a": f"{p + 0.01:.4f}",
                        "A": "1.0",
                    },
                }
            )
        )
    started = time.perf_counter()
    for message in messages:
        parse_message(message, by_id)
    return count / (time.perf_counter() - started)


def receive_only(seconds: float, symbols: int, rate: float) -> tuple[float, float]:
    """CPU µs per message of the receive alone (no parsing, no engine), ours and
    trio-websocket's, on the same stream: the floor under the live figure."""
    server = _fake(symbols, rate)
    try:
        assert server.stdout is not None
        server.stdout.readline()
        ws = server.stdout.readline().split()[1]
        url = f"{ws}/stream?streams=" + "/".join(f"c{i:03d}usdt@bookTicker" for i in range(symbols))

        async def ours() -> float:
            conn = await wsclient.connect(url)
            try:
                for _ in range(1000):
                    await conn.receive_batch()
                cpu0, n, deadline = time.process_time(), 0, time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    n += len(await conn.receive_batch())
                return (time.process_time() - cpu0) * 1e6 / max(n, 1)
            finally:
                await conn.aclose()

        async def theirs() -> float:
            from trio_websocket import open_websocket_url

            async with open_websocket_url(url, message_queue_size=1000) as conn:
                for _ in range(1000):
                    await conn.get_message()
                cpu0, n, deadline = time.process_time(), 0, time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    await conn.get_message()
                    n += 1
                return (time.process_time() - cpu0) * 1e6 / max(n, 1)

        return trio.run(ours), trio.run(theirs)
    finally:
        server.kill()
        server.wait()


def _fake(symbols: int, rate: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fake_exchange",
            "--symbols",
            str(symbols),
            "--rate",
            str(rate),
            "--slices",
            "100",
            "--stamp",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def live(seconds: float, symbols: int, rate: float) -> dict[str, float]:
    server = _fake(symbols, rate)
    try:
        assert server.stdout is not None
        rest = server.stdout.readline().split()[1]
        ws = server.stdout.readline().split()[1]
        return trio.run(_live, rest, ws, seconds, symbols)
    finally:
        server.kill()
        server.wait()


async def _live(rest: str, ws: str, seconds: float, symbols: int) -> dict[str, float]:
    settings = from_dict(
        {
            "strategy": {"window_s": 60, "trigger_pct": 0.15},
            "risk": {"max_positions": 50, "cooldown_s": 60, "stale_after_s": 0},
            # Exits within the fake's ±0.2 % wiggle, so that orders keep flowing.
            "exits": {
                "take_profit_pct": 0.15,
                "stop_loss_pct": 0.15,
                "trailing_activation_pct": 0.1,
                "trailing_distance_pct": 0.05,
            },
            "budget": {"initial": 100_000},
            "market": {"source": "websocket", "universe": "top_volume", "top_n": symbols},
        },
        "benchmark",
    )
    client = ExchangeClient(make_exchange("binance", rest_url=rest, timeout_s=10))
    quotes = QuoteBook()
    names = [f"C{i:03d}/USDT" for i in range(symbols)]
    rule = UniverseRule("USDT", "static", tuple(names))
    # Tick times run 30x faster than the wall clock, so the 60 s window fills in 2 s.
    t0 = time.time()
    source = BinanceWebsocketSource(
        client,
        rule,
        quotes,
        ws_url=ws,
        clock_ms=lambda: int(t0 * 1000 + (time.time() - t0) * 30_000),
    )
    broker = QuotePaperBroker(Decimal("0.001"), quotes)
    engine = Engine(settings, source, broker, clock=lambda: 0)

    # When each tick was received, by the tick itself: under overload the reader
    # conflates, and a tick that never reaches the trader is simply not measured.
    received: dict[object, int] = {}
    sent: dict[object, float] = {}  # the fake's send time of one tick in 50
    handle = source.handle
    counter = [0]
    probing = [True]  # off for the second CPU window: the engine as it runs, unmeasured

    def timed_handle(message: str | bytes, ticks: list[Tick]) -> None:
        if not probing[0]:
            handle(message, ticks)
            return
        before = len(ticks)
        handle(message, ticks)
        if len(ticks) > before:
            tick = ticks[-1]
            received[tick] = time.perf_counter_ns()
            counter[0] += 1
            if counter[0] % 50 == 0 and isinstance(message, str):
                at = message.rfind('"bench_ts": ')
                if at >= 0:
                    sent[tick] = float(message[at + 12 : message.index("}", at)])

    source.handle = timed_handle  # type: ignore[method-assign]
    # Compact arrays: at 20,000 ticks/s a list of floats would grow the process by some
    # 100 MB a minute, and the engine's own memory alert would fire on the probes.
    latencies = array("d")
    lags = array("d")  # sent by the fake -> decided, µs (one tick in 50)
    intent_latencies = array("d")
    measuring = [False]
    on_tick = engine.trader.on_tick

    def timed_on_tick(ts: int, symbol: str, price: float) -> object:
        intent = on_tick(ts, symbol, price)
        done = time.perf_counter_ns()
        start = received.pop((ts, symbol, price), done)
        sent_at = sent.pop((ts, symbol, price), None)
        if measuring[0] and sent_at is not None:
            lags.append((time.time() - sent_at) * 1e6)
        if measuring[0]:
            us = (done - start) / 1000
            latencies.append(us)
            if intent is not None:
                intent_latencies.append(us)
        return intent

    engine.trader.on_tick = timed_on_tick  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        await trio.sleep(3.0)  # connect, warm the anchors
        measuring[0] = True
        ticks0, t_start = engine.ticks, trio.current_time()
        messages0, conflated0 = source.messages, source.conflated_batches
        cpu0 = time.process_time()
        await trio.sleep(seconds)
        measuring[0] = False
        elapsed = trio.current_time() - t_start
        cpu = time.process_time() - cpu0
        ticks = engine.ticks - ticks0
        messages = source.messages - messages0
        conflated = source.conflated_batches - conflated0
        # The same window again without the latency probes (their clock reads and
        # dictionaries run per message and per tick, in this process's CPU).
        probing[0] = False
        engine.trader.on_tick = on_tick  # type: ignore[method-assign]
        await trio.sleep(1.0)
        cpu1, t1, rss1 = time.process_time(), trio.current_time(), rss_mb()
        await trio.sleep(seconds)
        plain_cpu = (time.process_time() - cpu1) / (trio.current_time() - t1) * 100
        rss_growth = rss_mb() - rss1
        nursery.cancel_scope.cancel()
    # Lag over time: the median latency in the first and the last third of the run.
    third = len(lags) // 3
    early = pct(lags[:third], 0.5) if third else float("nan")
    late = pct(lags[-third:], 0.5) if third else float("nan")
    return {
        "ticks": ticks,
        "rate": ticks / elapsed,
        "messages": messages / elapsed,
        "conflated": conflated,
        "lag99": pct(lags, 0.99),
        "early": early,
        "late": late,
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "max": max(latencies) if latencies else float("nan"),
        "intents": len(intent_latencies),
        "ip50": pct(intent_latencies, 0.5),
        "ip99": pct(intent_latencies, 0.99),
        "cpu": cpu / elapsed * 100,
        "plain_cpu": plain_cpu,
        "rss_growth": rss_growth,
        "rss": rss_mb(),
        "malformed": source.malformed,
        "mean": statistics.fmean(latencies) if latencies else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s per symbol")
    args = parser.parse_args()
    print(f"parse: {parse_rate(args.symbols):,.0f} messages/s turned into ticks (one core)")
    r = live(args.seconds, args.symbols, args.rate)
    offered = args.symbols * args.rate
    print(
        f"live: {args.symbols} symbols x {args.rate:g}/s over a loopback websocket for "
        f"{args.seconds:g} s: {r['ticks']:,} ticks, {r['rate']:,.0f} ticks/s"
    )
    goal = "   goal <= 30 % at 5,000/s" if offered == 5000 else ""
    if offered == 5000:
        goal += "   met" if r["plain_cpu"] <= 30 else "   NOT met"
    print(
        f"engine process CPU {r['plain_cpu']:.1f} % of one core{goal}\n"
        f"  ({r['cpu']:.1f} % in the window with the latency probes below, which run per "
        "message and per tick in this process)\n"
        f"engine process memory {r['rss']:.0f} MB; growth over the unprobed window "
        f"{r['rss_growth']:+.1f} MB"
    )
    print(
        f"messages received {r['messages']:,.0f}/s of {offered:,.0f}/s offered; times the "
        f"engine was behind and the reader conflated: {r['conflated']:,}"
    )
    print(
        f"tick latency (received -> decided): p50 {r['p50']:.0f} µs, p99 {r['p99']:.0f} µs, "
        f"max {r['max']:.0f} µs"
    )
    print(
        f"lag (sent by the exchange -> decided): p99 {r['lag99'] / 1000:.1f} ms; median "
        f"first third {r['early'] / 1000:.2f} ms, last third {r['late'] / 1000:.2f} ms "
        f"(growth {(r['late'] - r['early']) / 1000:+.2f} ms)"
    )
    ours, theirs = receive_only(min(args.seconds, 5), args.symbols, args.rate)
    print(
        f"receive alone, CPU a message: ours {ours:.1f} µs ({ours * offered / 1e4:.1f} % of a "
        f"core at {offered:,.0f}/s), trio-websocket {theirs:.1f} µs ({theirs / ours:.1f}x)"
    )
    verdict = "met" if r["ip99"] <= 1000 or r["intents"] == 0 else "NOT met"
    print(
        f"tick-to-order-intent latency over {r['intents']} intents: p50 {r['ip50']:.0f} µs, "
        f"p99 {r['ip99']:.0f} µs   goal p99 <= 1000 µs   {verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
