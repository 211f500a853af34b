"""How soon a live position's exits rest on the exchange (`exits.on_exchange`).

Against the fake Binance on loopback (REST and its WebSocket API's user data stream), the
whole engine trades live with its exits on the exchange, `--rounds` times: a 2.9 % drop
buys, and the time from the buy's fill on the exchange to the OCO order list resting
there is measured (goal: within 1 s). Then the bot is stopped holding a position whose
list was cancelled by hand, started again, and the time from the start to the list
resting again is measured (goal: within 5 s). Prints p50, p95 and max of each.

Run: .venv/bin/python benchmarks/protection.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.engine.test_engine_exchange import fast_clock  # noqa: E402
from tests.exchange.test_live_broker import make_broker, make_client  # noqa: E402
from tests.fake_exchange import FakeBinance  # noqa: E402
from tradebot_tui.config.validate import from_dict  # noqa: E402
from tradebot_tui.core.lifecycle import State  # noqa: E402
from tradebot_tui.engine.commands import ExitPosition  # noqa: E402
from tradebot_tui.engine.engine import Engine  # noqa: E402
from tradebot_tui.exchange.ccxt_polling import CcxtPollingSource  # noqa: E402
from tradebot_tui.exchange.universe import UniverseRule  # noqa: E402
from tradebot_tui.exchange.user_stream import PushedOrders, UserStream  # noqa: E402
from tradebot_tui.journal.store import Journal  # noqa: E402

SETTINGS = from_dict(
    {
        "strategy": {"window_s": 60},
        "risk": {"stale_after_s": 0, "cooldown_s": 0},
        "market": {"source": "ccxt", "symbols": ["BTC/USDT"]},
        "exits": {"on_exchange": True},
        "exchange": {"shutdown_grace_s": 0},
    },
    "benchmark",
)


def engine_on(fake: FakeBinance, path: Path, ws_api: str) -> Engine:
    """The live engine as the app assembles it: REST prices polled every 20 ms, the
    broker's default polling, fills pushed by the user data stream."""
    client = make_client(fake, timeout_s=5)
    rule = UniverseRule("USDT", "static", ("BTC/USDT",))
    source = CcxtPollingSource(client, rule, interval_s=0.02, clock_ms=fast_clock())  # type: ignore[arg-type]
    pushed = PushedOrders()
    broker = make_broker(client, poll_s=0.5, max_poll_s=5.0, settle_s=1.0, pushed=pushed)
    broker.user_stream = UserStream(pushed, "key-1", "sec-2", url=ws_api)
    engine = Engine(
        SETTINGS,
        source,
        broker,
        mode="LIVE",
        clock=lambda: 0,
        journal=Journal.open(path, profile="paper"),
    )
    engine.add_service(broker.user_stream)
    return engine


def resting(fake: FakeBinance) -> list[Any]:
    return [x for x in fake.list_history if not x.done]


async def until(cond: Any, limit: float = 30.0) -> None:
    with trio.fail_after(limit):
        while not cond():  # noqa: ASYNC110 (the fake's state, changed by its threads)
            await trio.sleep(0.001)


def buys(fake: FakeBinance) -> list[Any]:
    return [o for o in fake.history if o.side == "BUY"]


async def one_buy(fake: FakeBinance) -> float:
    """Drop the price into a buy; seconds from its fill to its list resting."""
    lists, before = len(fake.list_history), len(buys(fake))
    fake.set_price("BTCUSDT", "68000.00")
    await until(lambda: len(buys(fake)) > before)
    buy = buys(fake)[-1]
    await until(lambda: buy.status == "FILLED")
    filled = time.monotonic()
    await until(lambda: len(fake.list_history) > lists)
    return time.monotonic() - filled


async def rounds(fake: FakeBinance, path: Path, ws_api: str, n: int) -> list[float]:
    """Seconds from each buy's fill on the exchange to its list resting there."""
    engine = engine_on(fake, path, ws_api)
    lags: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        book = lambda: engine.trader.books.get("BTC/USDT")  # noqa: E731
        await until(lambda: book() is not None and book().anchor_price is not None)
        for _ in range(n):
            lags.append(await one_buy(fake))
            engine.submit(ExitPosition("BTC/USDT"))  # cancels the list, sells at market
            await until(lambda: book().state is not State.IN_POSITION or book().position is None)
            await until(lambda: book().position is None and not engine.following)
            fake.set_price("BTCUSDT", "70000.00")  # the anchor back up: the next drop buys
            await until(lambda: book().state is State.IDLE and book().anchor_price == 70000.0)
        nursery.cancel_scope.cancel()
    return lags


async def restart(fake: FakeBinance, path: Path, ws_api: str) -> float:
    """Stop holding a position, cancel its list by hand, start again: seconds to the
    list resting again."""
    engine = engine_on(fake, path, ws_api)
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        book = lambda: engine.trader.books.get("BTC/USDT")  # noqa: E731
        await until(lambda: book() is not None and book().anchor_price is not None)
        fake.set_price("BTCUSDT", "68000.00")
        await until(lambda: bool(resting(fake)))
        nursery.cancel_scope.cancel()
    with fake.lock:
        for listed in resting(fake):
            fake._cancel_list(listed)
    count = len(fake.list_history)
    again = engine_on(fake, path, ws_api)
    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(again.run)
        await until(lambda: len(fake.list_history) > count)
        took = time.monotonic() - started
        nursery.cancel_scope.cancel()
    return took


def summary(name: str, values: list[float], goal: float) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    verdict = "met" if ordered[-1] <= goal else "NOT met"
    return (
        f"{name}: p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms ({len(ordered)} runs; goal <= {goal:.0f} s: "
        f"{verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="buys to protect (default 10)")
    parser.add_argument("--restarts", type=int, default=5, help="restarts (default 5)")
    args = parser.parse_args()
    logging.getLogger("tradebot").setLevel(logging.ERROR)  # the figures, not the bot's log

    async def go() -> tuple[list[float], list[float]]:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fake.keep_filling, 0.005)
            ws_api = await nursery.start(fake.serve_ws_api)
            with tempfile.TemporaryDirectory() as tmp:
                lags = await rounds(fake, Path(tmp) / "state.db", ws_api, args.rounds)
            restarts = []
            for i in range(args.restarts):
                with tempfile.TemporaryDirectory() as tmp:
                    restarts.append(await restart(fake, Path(tmp) / f"r{i}.db", ws_api))
                fake.set_price("BTCUSDT", "70000.00")
            nursery.cancel_scope.cancel()
        return lags, restarts

    with FakeBinance() as fake:
        lags, restarts = trio.run(go)
    print(summary("fill -> list resting", lags, 1.0))
    print(summary("restart -> list resting", restarts, 5.0))


if __name__ == "__main__":
    main()
