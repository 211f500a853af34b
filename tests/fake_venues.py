"""Run one venue's fake (Bybit, OKX, Kraken or Coinbase) in a process of its own: its REST
on a thread, its websocket in trio. Prints `rest <url>` and `ws <url>`, then serves until
killed. The feed benchmark uses it (benchmarks/venue_feed.py).

Run: python -m tests.fake_venues bybit --symbols 500 --rate 10
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Any

import trio

from tests.fake_bybit import FakeBybit
from tests.fake_coinbase import FakeCoinbase
from tests.fake_kraken import FakeKraken
from tests.fake_okx import FakeOkx

VENUES = ("bybit", "okx", "kraken", "coinbase")


def coin(i: int) -> str:
    return f"C{i:03d}"


def make(venue: str, symbols: int) -> Any:
    """The venue's fake with `symbols` coins quoted in USDT, each at 10."""
    if venue == "bybit":
        return FakeBybit({f"{coin(i)}USDT": "10.00" for i in range(symbols)})
    if venue == "okx":
        return FakeOkx({f"{coin(i)}-USDT": "10.00" for i in range(symbols)})
    if venue == "kraken":
        return FakeKraken({f"{coin(i)}/USDT": "10.00" for i in range(symbols)})
    if venue == "coinbase":
        return FakeCoinbase({f"{coin(i)}-USDT": "10.00" for i in range(symbols)})
    raise ValueError(f"no fake for {venue!r}: one of {', '.join(VENUES)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venue", choices=VENUES)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s per coin")
    parser.add_argument("--slices", type=int, default=100, help="sends a round is spread over")
    args = parser.parse_args()
    fake = make(args.venue, args.symbols)
    print("rest", fake.start_rest(), flush=True)

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            serve = functools.partial(fake.serve, rate_hz=args.rate, slices=args.slices)
            url = await nursery.start(serve)
            print("ws", url, flush=True)

    try:
        trio.run(serve)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
