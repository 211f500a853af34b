"""The embedded simulated market: about twenty USDT pairs, seeded and deterministic.

Each pair follows a mean-reverting random walk in log price at its own volatility, with
occasional sharp drops (2-12 % in seconds to a minute and a half) and partial rebounds
over the following minutes, so that the default drop trigger fires within a few minutes
of watching. The same seed, start time and interval give the same ticks, bit for bit:
every pair draws from its own generator, seeded by the market seed and its symbol, so a
pair's path does not depend on which other pairs are watched.

On start the source sends `warmup_ms` of calm history (coarser steps, no shocks) so that
anchors are warm at once, as a real exchange's recent candles would make them, and the
first entry waits for the first live drop.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.ticks import Tick

if TYPE_CHECKING:
    import trio

    from tradebot_tui.exchange.base import SideLoop, TickBatch

YEAR_S = 365 * 86400
HISTORY_POINTS = 240
# Mean reversion of log price towards the pair's level: half-life of six hours.
KAPPA = math.log(2) / (6 * 3600)
_TWO_PI = 2.0 * math.pi  # random.py's TWOPI
_sqrt, _log, _cos, _sin, _exp = math.sqrt, math.log, math.cos, math.sin, math.exp
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class SimPair:
    """One simulated pair: level, annualized volatility, exchange-like rules, activity."""

    symbol: str
    price: float
    vol: float
    tick: str
    step: str
    activity: float
    shock_gap_s: float


PAIRS: tuple[SimPair, ...] = (
    SimPair("BTC/USDT", 78_000.0, 0.50, "0.01", "0.00001", 1.00, 5280),
    SimPair("ETH/USDT", 2_400.0, 0.65, "0.01", "0.0001", 1.00, 4400),
    SimPair("BNB/USDT", 640.0, 0.50, "0.01", "0.001", 0.90, 4840),
    SimPair("SOL/USDT", 90.0, 0.85, "0.01", "0.001", 1.00, 3300),
    SimPair("XRP/USDT", 1.35, 0.80, "0.0001", "0.1", 0.95, 3520),
    SimPair("DOGE/USDT", 0.095, 0.95, "0.00001", "1", 0.95, 2860),
    SimPair("ADA/USDT", 0.27, 0.90, "0.0001", "0.1", 0.85, 3080),
    SimPair("TRX/USDT", 0.29, 0.45, "0.0001", "0.1", 0.70, 5720),
    SimPair("AVAX/USDT", 9.40, 0.95, "0.01", "0.01", 0.80, 2860),
    SimPair("LINK/USDT", 8.90, 0.90, "0.01", "0.01", 0.80, 3080),
    SimPair("DOT/USDT", 1.28, 0.95, "0.001", "0.01", 0.70, 2860),
    SimPair("LTC/USDT", 55.0, 0.75, "0.01", "0.001", 0.75, 3740),
    SimPair("BCH/USDT", 330.0, 0.80, "0.1", "0.001", 0.65, 3520),
    SimPair("NEAR/USDT", 1.32, 1.00, "0.001", "0.1", 0.70, 2640),
    SimPair("UNI/USDT", 3.45, 1.00, "0.001", "0.01", 0.65, 2640),
    SimPair("ATOM/USDT", 2.15, 0.95, "0.001", "0.01", 0.60, 2860),
    SimPair("XLM/USDT", 0.17, 0.85, "0.0001", "1", 0.65, 3300),
    SimPair("SUI/USDT", 0.98, 1.10, "0.0001", "0.1", 0.80, 2420),
    SimPair("APT/USDT", 1.05, 1.05, "0.0001", "0.01", 0.60, 2640),
    SimPair("FIL/USDT", 0.88, 1.05, "0.001", "0.01", 0.55, 2640),
)
PAIRS_BY_SYMBOL = {p.symbol: p for p in PAIRS}


def synthetic_pairs(count: int) -> list[SimPair]:
    """`count` pairs: the embedded ones first, then copies named SIM001/USDT, SIM002/USDT...

    A copy moves like the embedded pair it is modelled on, with its own seeded path.
    """
    pairs = list(PAIRS[:count])
    for i in range(count - len(pairs)):
        model = PAIRS[i % len(PAIRS)]
        pairs.append(
            SimPair(
                f"SIM{i + 1:03d}/USDT",
                model.price,
                model.vol,
                model.tick,
                model.step,
                model.activity,
                model.shock_gap_s,
            )
        )
    return pairs


MIN_NOTIONAL = Decimal(5)


class UnknownSymbol(ValueError):
    """A symbol the simulated market does not have."""


def _decimals(tick: str) -> int:
    return max(0, -Decimal(tick).as_tuple().exponent)  # type: ignore[operator]


class _Walk:
    """The price process of one pair."""

    __slots__ = (
        "_dt",
        "_shock_chance",
        "_sigma",
        "activity",
        "decimals",
        "gauss_next",
        "log_level",
        "log_p",
        "pair",
        "phase_left",
        "phase_rate",
        "rebound_left",
        "rebound_rate",
        "rng",
        "symbol",
    )

    def __init__(self, pair: SimPair, seed: int) -> None:
        self.pair = pair
        self.rng = random.Random(f"{seed}:{pair.symbol}")
        self.log_level = math.log(pair.price)
        # The second normal of the last pair drawn (see `_normal`).
        self.gauss_next: float | None = None
        # Start somewhere near the level, not exactly on it.
        self.log_p = self.log_level + (0.0 + self._normal() * 0.01)
        self.decimals = _decimals(pair.tick)
        self.activity = pair.activity
        self.symbol = pair.symbol
        # A shock is two phases of steady motion in log price: the fall, then the rebound.
        self.phase_left = 0.0
        self.phase_rate = 0.0
        self.rebound_left = 0.0
        self.rebound_rate = 0.0
        # What a step of `_dt` seconds draws with (the same every step of a live run).
        self._dt = -1.0
        self._shock_chance = self._sigma = 0.0

    def step(self, dt: float, shocks: bool = True) -> float | None:
        """Advance by `dt` seconds; return the traded price, or None when nothing traded.

        The hottest code of a live simulated run (every pair, every step): the normal
        draw is inline (`_normal`), 20 % of the step's time.
        """
        rng = self.rng
        random_ = rng.random
        if dt != self._dt:  # the same expressions, once per step length: the same floats
            pair = self.pair
            self._dt = dt
            self._shock_chance = dt / pair.shock_gap_s
            self._sigma = pair.vol * math.sqrt(dt / YEAR_S)
        if self.phase_left > 0:
            span = dt if dt < self.phase_left else self.phase_left
            self.log_p += self.phase_rate * span
            self.phase_left -= span
            if self.phase_left <= 0 and self.rebound_left:
                self.phase_left, self.phase_rate = self.rebound_left, self.rebound_rate
                self.rebound_left = 0.0
        elif random_() < self._shock_chance and shocks:
            self._start_shock()
        # `_normal()`, inline: this runs for every pair at every step.
        z = self.gauss_next
        self.gauss_next = None
        if z is None:
            x2pi = random_() * _TWO_PI
            g2rad = _sqrt(-2.0 * _log(1.0 - random_()))
            z = _cos(x2pi) * g2rad
            self.gauss_next = _sin(x2pi) * g2rad
        log_p = self.log_p
        log_p += 0.0 + z * self._sigma - KAPPA * (log_p - self.log_level) * dt
        self.log_p = log_p
        if random_() >= self.activity:
            return None
        return round(_exp(log_p), self.decimals)

    def _normal(self) -> float:
        """A standard normal draw, as `random.Random.gauss` makes it (the Box-Muller pair
        from two uniforms, the second kept for the next draw): the walk keeps the pair
        itself so that `step` can draw inline, and the ticks are those `gauss` gave."""
        z = self.gauss_next
        self.gauss_next = None
        if z is None:
            random_ = self.rng.random
            x2pi = random_() * _TWO_PI
            g2rad = _sqrt(-2.0 * _log(1.0 - random_()))
            z = _cos(x2pi) * g2rad
            self.gauss_next = _sin(x2pi) * g2rad
        return z

    def _start_shock(self) -> None:
        rng = self.rng
        depth = rng.uniform(0.05, 0.10) if rng.random() < 0.08 else rng.uniform(0.022, 0.045)
        fall = -math.log(1 - depth)
        self.phase_left = rng.uniform(15, 90)
        self.phase_rate = -fall / self.phase_left
        self.rebound_left = rng.uniform(60, 600)
        self.rebound_rate = fall * rng.uniform(0.5, 1.3) / self.rebound_left


def pair_rules(pair: SimPair) -> MarketRules:
    step = Decimal(pair.step)
    return MarketRules(
        symbol=pair.symbol,
        qty_step=step,
        price_tick=Decimal(pair.tick),
        min_qty=step,
        min_notional=MIN_NOTIONAL,
    )


class SimulatedMarket:
    """Ticks for the simulated pairs, paced in real time or as fast as possible."""

    name = "simulated"

    def __init__(
        self,
        symbols: Sequence[str] = (),
        *,
        seed: int = 8,
        interval_ms: int = 250,
        warmup_ms: int = 3_660_000,
        start_ms: int | None = None,
        realtime: bool = True,
        max_steps: int | None = None,
        pairs: Sequence[SimPair] | None = None,
    ) -> None:
        """Create the market.

        Args:
            symbols: Pairs to simulate; empty means all of them.
            seed: Same seed, same prices.
            interval_ms: Simulated time between two steps.
            warmup_ms: History sent at start, before `start_ms`.
            start_ms: Timestamp of the first live step; None means now (wall clock).
            realtime: Pace steps on the clock; False runs them as fast as possible.
            max_steps: Stop producing after this many live steps (tests, benchmarks).
            pairs: The pairs to simulate (overrides `symbols`; see `synthetic_pairs`).
        """
        unknown = [s for s in symbols if s not in PAIRS_BY_SYMBOL]
        if unknown:
            raise UnknownSymbol(
                f"not simulated: {', '.join(unknown)} "
                f"(simulated pairs: {', '.join(PAIRS_BY_SYMBOL)})"
            )
        if pairs is not None:
            self.pairs = list(pairs)
        else:
            self.pairs = [PAIRS_BY_SYMBOL[s] for s in symbols] if symbols else list(PAIRS)
        self.seed = seed
        self.interval_ms = interval_ms
        self.warmup_ms = warmup_ms
        self.start_ms = start_ms
        self.realtime = realtime
        self.max_steps = max_steps
        self._walks = [_Walk(p, seed) for p in self.pairs]
        self._markets: dict[str, MarketRules] | None = None
        self._resume: dict[str, float] = {}
        # The warm-up history as (ms before the start, symbol, price), drawn once.
        self._warmup: list[tuple[int, str, float]] | None = None

    def resume_from(self, prices: dict[str, float]) -> None:
        """Go on from these last prices (a paper run restarted) instead of the pairs' levels.

        The warm-up history is drawn as usual and then scaled to end at each coin's last
        price, so the first live tick follows the last one before the restart as any
        tick follows the one before: the restart itself moves no price.
        """
        for walk in self._walks:
            price = prices.get(walk.pair.symbol)
            if isinstance(price, int | float) and math.isfinite(price) and price > 0:
                walk.log_p = math.log(price)
                self._resume[walk.pair.symbol] = float(price)

    def markets(self) -> dict[str, MarketRules]:
        if self._markets is None:
            self._markets = {p.symbol: pair_rules(p) for p in self.pairs}
        return self._markets

    def side_loops(self, send: trio.MemorySendChannel[TickBatch]) -> list[SideLoop]:
        return []  # nothing beside the ticks

    def history(self, start_ms: int) -> list[Tick]:
        """Warm-up ticks from `start_ms - warmup_ms` up to (not including) `start_ms`."""
        return [Tick(start_ms - back, symbol, price) for back, symbol, price in self._drawn()]

    def opening_prices(self) -> dict[str, float]:
        """Each pair's price where its live run starts: the end of its warm-up history.

        Known before the market runs, so the app can show prices in its first frame while
        the engine is still starting.
        """
        if self._warmup is None and len(self._resume) == len(self._walks):
            # A resumed market's history ends at the prices it kept: no need to draw it.
            return dict(self._resume)
        return {symbol: price for _back, symbol, price in self._drawn()}  # the last wins

    def _drawn(self) -> list[tuple[int, str, float]]:
        if self._warmup is None:
            self._warmup = [(-tick.ts_ms, tick.symbol, tick.price) for tick in self._draw_history()]
        return self._warmup

    def _draw_history(self) -> list[Tick]:
        """The warm-up history, ending at 0 ms (drawn once: it moves the walks)."""
        ticks: list[Tick] = []
        if self.warmup_ms <= 0:
            return ticks
        step_ms = max(self.interval_ms, self.warmup_ms // HISTORY_POINTS)
        dt = step_ms / 1000
        ts = -self.warmup_ms
        while ts < 0:
            for walk in self._walks:
                price = walk.step(dt, shocks=False)
                if price is not None:
                    ticks.append(Tick(ts, walk.pair.symbol, price))
            ts += step_ms
        return self._end_at_resumed_prices(ticks)

    def _end_at_resumed_prices(self, ticks: list[Tick]) -> list[Tick]:
        """Scale each resumed coin's history so that it ends at its last price."""
        if not self._resume:
            return ticks
        factors: dict[str, float] = {}
        for walk in self._walks:
            symbol = walk.pair.symbol
            last = self._resume.get(symbol)
            if last is not None:
                factors[symbol] = last / math.exp(walk.log_p)
                walk.log_p = math.log(last)
        self._resume = {}
        decimals = {w.pair.symbol: w.decimals for w in self._walks}
        return [
            Tick(ts, symbol, round(price * factors[symbol], decimals[symbol]))
            if symbol in factors
            else Tick(ts, symbol, price)
            for ts, symbol, price in ticks
        ]

    def step(self, ts_ms: int) -> list[Tick]:
        """One live step of every pair at `ts_ms`."""
        dt = self.interval_ms / 1000
        out: list[Tick] = []
        append = out.append
        for walk in self._walks:
            price = walk.step(dt)
            if price is not None:
                # Tick's own constructor, without its keyword handling: hundreds a step.
                append(_new_tuple(Tick, (ts_ms, walk.symbol, price)))
        return out

    async def run(
        self,
        send: trio.MemorySendChannel[TickBatch],
        *,
        task_status: trio.TaskStatus[None] | None = None,
    ) -> None:
        import trio  # here, not at the top: the app's first frame needs none of it

        from tradebot_tui.exchange.base import TickBatch

        interval = self.interval_ms
        start = self.start_ms
        if start is None:
            start = int(time.time() * 1000) // interval * interval
        if task_status is not None:
            task_status.started()
        await send.send(TickBatch(self.history(start), warmup=True))
        origin = trio.current_time()
        step = 0
        while self.max_steps is None or step < self.max_steps:
            ticks = self.step(start + step * interval)
            step += 1
            if ticks:
                await send.send(TickBatch(ticks))
            if self.realtime:
                await trio.sleep_until(origin + step * interval / 1000)
            else:
                await trio.lowlevel.checkpoint()
        await trio.sleep_forever()
