"""What the venue stream tests share: running a source against a venue's fake until
something holds, and a paper run wired as a start wires it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from tradebot_tui.config.locations import Locations
from tradebot_tui.config.validate import from_dict
from tradebot_tui.core.book import Position
from tradebot_tui.core.lifecycle import State
from tradebot_tui.engine.engine import Engine
from tradebot_tui.exchange.base import TickBatch
from tradebot_tui.exchange.ccxt_markets import make_exchange
from tradebot_tui.exchange.client import ExchangeClient
from tradebot_tui.exchange.resilience import CircuitBreaker, WeightBudget
from tradebot_tui.wiring.sources import exchange_feed


def locations(tmp_path: Path) -> Locations:
    return Locations(
        tmp_path / "config.toml",
        False,
        tmp_path / "secrets.toml",
        tmp_path / "themes",
        tmp_path / "data",
        tmp_path / "journals",
        tmp_path / "recordings",
        tmp_path / "logs",
    )


def client(venue: str, rest_url: str) -> ExchangeClient:
    """ccxt's client of `venue`, every REST call going to `rest_url` (the fake)."""
    exchange = make_exchange(venue, rest_url=rest_url, timeout_s=2.0)
    return ExchangeClient(
        exchange, budget=WeightBudget(60_000), breaker=CircuitBreaker(50, 1.0), timeout_s=2.0
    )


def run_until(
    fake: Any,
    make: Callable[[str], Any],
    until: Callable[[Any, list[TickBatch]], object],
    limit: float = 15.0,
) -> tuple[Any, list[TickBatch]]:
    """Serve `fake`, run the source `make(url)` builds until `until(source, batches)` holds
    (asked at every batch, and every 50 ms without one); the source and its batches."""
    seen: list[TickBatch] = []

    async def go() -> Any:
        async with trio.open_nursery() as outer:
            url = await outer.start(fake.serve)
            feed = make(url)
            send, recv = trio.open_memory_channel[TickBatch](100_000)
            with trio.fail_after(limit):
                async with trio.open_nursery() as nursery:
                    await nursery.start(feed.run, send)
                    while not until(feed, seen):
                        with trio.move_on_after(0.05):
                            seen.append(await recv.receive())
                    nursery.cancel_scope.cancel()
            outer.cancel_scope.cancel()
        return feed

    return trio.run(go), seen


def symbols(batches: list[TickBatch]) -> set[str]:
    """The coins live batches priced (warm-up history aside)."""
    return {t.symbol for b in batches for t in b.ticks if not b.warmup}


def buys_a_drop(
    fake: Any, venue: str, symbol: str, drop: Callable[[], None], tmp_path: Path
) -> tuple[Any, Position]:
    """A paper run on `venue`'s fake, wired as a start wires it (`exchange_feed`): markets
    and warm-up candles by ccxt from the fake's REST, prices from its websocket. Once the
    anchor is warm, `drop()` moves the price; returns the source and the position bought."""
    bought: list[Position] = []
    sources: list[Any] = []

    async def go() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                ws = await nursery.start(fake.serve)
                settings = from_dict(
                    {
                        "risk": {"stale_after_s": 0},
                        "exchange": {"name": venue, "rest_url": fake.rest_url, "ws_url": ws},
                        "market": {"source": "websocket", "symbols": [symbol]},
                    },
                    "test",
                )
                feed, broker = exchange_feed(settings, locations(tmp_path), live=False)
                sources.append(feed)
                engine = Engine(settings, feed, broker)
                await nursery.start(engine.run)
                books = engine.trader.books
                while symbol not in books or books[symbol].anchor_price is None:
                    await trio.sleep(0.02)
                drop()
                # Bought: the paper broker filled the buy (a coin is held from the moment
                # its buy is sent; its position exists once the fill is applied).
                while books[symbol].state is not State.IN_POSITION:
                    await trio.sleep(0.02)
                position = books[symbol].position
                assert position is not None
                bought.append(position)
                nursery.cancel_scope.cancel()

    trio.run(go)
    return sources[0], bought[0]
