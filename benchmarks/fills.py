"""How soon a live fill is booked: pushed by the user data stream, or found by polling.

Against the fake Binance on loopback (REST and its WebSocket API), the live broker buys
`--orders` times; each order fills `--delay-min`..`--delay-max` seconds after it was
placed (the fake's delayed fills, at a random moment). The time from the fill on the
exchange to the broker's booking of it is measured for each order, with the broker's
default polling (first look after 0.5 s, then every 1.5x longer up to 5 s), first with
the stream, then without it. Prints p50/p95/max of each and the ratio of the medians.

Run: .venv/bin/python benchmarks/fills.py [--orders 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_exchange import FakeBinance  # noqa: E402
from tradebot_tui.core.orders import BrokerEvent, Fill, OrderIntent, Purpose, Side  # noqa: E402
from tradebot_tui.exchange.ccxt_broker import CcxtBroker  # noqa: E402
from tradebot_tui.exchange.ccxt_markets import make_exchange, market_rules  # noqa: E402
from tradebot_tui.exchange.client import ExchangeClient  # noqa: E402
from tradebot_tui.exchange.resilience import CircuitBreaker, WeightBudget  # noqa: E402
from tradebot_tui.exchange.user_stream import PushedOrders, UserStream  # noqa: E402


async def measure(
    fake: FakeBinance, orders: int, low: float, high: float, stream: bool
) -> list[float]:
    """Seconds from each fill on the exchange to its booking."""
    rng = random.Random(5)
    exchange = make_exchange(
        "binance", rest_url=fake.rest_url, timeout_s=5, api_key="key-1", secret="sec-2"
    )
    client = ExchangeClient(
        exchange, budget=WeightBudget(60_000), breaker=CircuitBreaker(50, 1.0), timeout_s=5
    )
    await client.call("load_markets", priority=3)  # type: ignore[arg-type]
    markets = exchange.markets or {}
    lags: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fake.keep_filling, 0.005)  # orders fill when due, looked at or not
        pushed = None
        if stream:
            url = await nursery.start(fake.serve_ws_api)
            service = UserStream(PushedOrders(), "key-1", "sec-2", url=url)
            pushed = service.pushed
            nursery.start_soon(service.run)
            with trio.fail_after(10):
                while not pushed.up:  # noqa: ASYNC110 (a flag the service sets)
                    await trio.sleep(0.01)
        broker = CcxtBroker(
            client,
            Decimal("0.001"),
            rules=lambda s: market_rules(markets[s]) if s in markets else None,
            pushed=pushed,
        )
        for i in range(orders):
            fake.fill_delay_s = rng.uniform(low, high)
            cid = f"tb-bench-{'s' if stream else 'p'}-{i}"
            intent = OrderIntent(
                cid, "BTC/USDT", Side.BUY, Purpose.ENTRY, Decimal("0.001"), Decimal(70000), 0
            )
            booked: list[float] = []

            def emit(event: BrokerEvent, booked: list[float] = booked) -> None:
                if isinstance(event, Fill):
                    booked.append(time.time())

            await broker.follow(intent, emit)
            filled_ms = fake.orders[cid].fills[0]["time"]  # the fake's clock is the wall's
            lags.append(booked[0] - filled_ms / 1000)
        nursery.cancel_scope.cancel()
    return lags


def line(name: str, lags: list[float]) -> str:
    ms = sorted(x * 1000 for x in lags)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    return (
        f"  {name:8s} p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   "
        f"max {ms[-1]:7.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--delay-min", type=float, default=0.2)
    parser.add_argument("--delay-max", type=float, default=3.0)
    args = parser.parse_args()
    results = {}
    for stream in (True, False):
        with FakeBinance(balances={"USDT": "100000"}) as fake:
            fake.fill_mode = "delayed"
            results[stream] = trio.run(
                measure, fake, args.orders, args.delay_min, args.delay_max, stream
            )
    print(
        f"fill to booking, {args.orders} live buys on the fake Binance, each filled "
        f"{args.delay_min}-{args.delay_max} s after it was placed:"
    )
    print(line("pushed", results[True]))
    print(line("polled", results[False]))
    ratio = statistics.median(results[False]) / max(statistics.median(results[True]), 1e-6)
    print(f"  polled / pushed (medians): {ratio:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
