"""Seeded engines on the simulated market in virtual time, for engine and UI tests."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tradebot_tui.config.settings import Settings
from tradebot_tui.data.series import CandleSeries
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.logs import LogRing
from tradebot_tui.engine.snapshot import EngineSnapshot
from tradebot_tui.exchange.base import QuoteBook
from tradebot_tui.exchange.feed import ExchangeFeed
from tradebot_tui.exchange.paper import PaperBroker
from tradebot_tui.exchange.simulator import SimulatedMarket
from tradebot_tui.exchange.universe import UniverseRule

START_MS = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC


def sim_market(
    settings: Settings, *, steps: int, interval_ms: int = 1000, realtime: bool = False
) -> SimulatedMarket:
    return SimulatedMarket(
        settings.market.symbols,
        seed=settings.market.seed,
        interval_ms=interval_ms,
        warmup_ms=settings.strategy.window_s * 1000 + 60_000,
        start_ms=START_MS,
        realtime=realtime,
        max_steps=steps,
    )


def sim_engine(
    settings: Settings | None = None,
    *,
    steps: int,
    interval_ms: int = 1000,
    realtime: bool = False,
    publish: Callable[[EngineSnapshot], None] | None = None,
    log_ring: LogRing | None = None,
    crash_after_s: float | None = None,
) -> Engine:
    """An engine over `steps` simulated steps, as fast as possible unless `realtime`."""
    settings = settings or Settings()
    fee_rate = settings.exchange.fee_rate
    return Engine(
        settings,
        sim_market(settings, steps=steps, interval_ms=interval_ms, realtime=realtime),
        PaperBroker(fee_rate),
        publish=publish,
        log_ring=log_ring,
        crash_after_s=crash_after_s,
        clock=lambda: START_MS,
    )


def expected_live_ticks(settings: Settings, *, steps: int, interval_ms: int = 1000) -> int:
    """How many live ticks such an engine will process (the market is deterministic)."""
    market = sim_market(settings, steps=steps, interval_ms=interval_ms)
    market.history(START_MS)
    return sum(len(market.step(START_MS + i * interval_ms)) for i in range(steps))


def saw_tooth_file(tmp_path: Path, minutes: int = 600) -> Path:
    """Tick CSV of two coins that fall 3 % and recover every ten minutes, with noise."""
    rows = ["ts_ms,symbol,price\n"]
    rng = random.Random(3)
    for m in range(minutes):
        for symbol, level in (("BTC/USDT", 100.0), ("ETH/USDT", 50.0)):
            step = m % 10
            price = level * (1.0 if step < 5 else (0.97 if step < 8 else 1.01))
            rows.append(
                f"{START_MS + m * 60_000},{symbol},{price * (1 + rng.uniform(-1e-3, 1e-3)):.4f}\n"
            )
    path = tmp_path / "ticks.csv"
    path.write_text("".join(rows))
    return path


def raw_market(symbol: str) -> dict[str, Any]:
    """A market as ccxt lists it."""
    return {
        "id": symbol.replace("/", ""),
        "symbol": symbol,
        "precision": {"amount": 0.001, "price": 0.0001},
        "limits": {"amount": {"min": 0.001}, "cost": {"min": 5}},
    }


class OfflineFeed(ExchangeFeed):
    """The exchange feed's universe logic without an exchange: `coins` markets named
    C0/USDT... as ccxt lists them, and the universe the caller picks (`universe`)."""

    def __init__(self, quotes: QuoteBook, coins: int, selected: list[str]) -> None:
        super().__init__(None, UniverseRule("USDT", "static", ()), quotes)  # type: ignore[arg-type]
        self._raw = {f"C{i}/USDT": raw_market(f"C{i}/USDT") for i in range(coins)}
        self.universe(selected)

    def universe(self, symbols: list[str]) -> None:
        """A universe refresh that chose `symbols`."""
        self._selected = list(symbols)
        self._rebuild()


OLDEST_HIGH_ENTRY_MS = 320 * 60_000 + 30_000  # candle 320's low, at t + T/2


def oldest_high_candles(t0: int) -> CandleSeries:
    """400 1m candles from `t0`: flat at 100 to candle 260, then a slow fall that stays
    above 98 (quiet for a 2 % trigger, so a replay skips it in blocks), then a low of
    97.95 at candle 320, the first of a block: 2.05 % under the 100 at the oldest end of
    the hour's window, under 2 % from the 99.9 that follows it. An hour's window taken
    up again there must hold that oldest high to enter (at `t0 + OLDEST_HIGH_ENTRY_MS`).
    """
    s = CandleSeries(Path("F_USDT-1m.feather"), "F/USDT", 60_000)
    price = 100.0
    for i in range(400):
        if i <= 260:
            close = 100.0
        elif i < 320:
            close = 99.9 - (i - 261) * (1.85 / 58)  # 99.9 at 261, 98.05 at 319
        else:
            close = 98.0
        s.ts.append(t0 + i * 60_000)
        s.open.append(price)
        s.high.append(max(price, close))
        s.low.append(97.95 if i == 320 else min(price, close))
        s.close.append(close)
        price = close
    return s
