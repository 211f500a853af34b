"""The embedded simulated market: deterministic, realistic, and eventful enough."""

from __future__ import annotations

import dataclasses
import math
import random
from decimal import Decimal

import pytest
import trio

from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.orders import Fill
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.ticks import Tick
from tradebot_tui.core.trader import Trader
from tradebot_tui.exchange.base import TickBatch
from tradebot_tui.exchange.paper import PaperBroker
from tradebot_tui.exchange.simulator import (
    KAPPA,
    PAIRS,
    YEAR_S,
    SimulatedMarket,
    UnknownSymbol,
    _Walk,
)

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def run_steps(market: SimulatedMarket, steps: int) -> list[Tick]:
    out = market.history(START)
    for i in range(steps):
        out += market.step(START + i * market.interval_ms)
    return out


def test_same_seed_same_ticks_other_seed_other_ticks() -> None:
    a = run_steps(SimulatedMarket(seed=3, start_ms=START), 400)
    b = run_steps(SimulatedMarket(seed=3, start_ms=START), 400)
    c = run_steps(SimulatedMarket(seed=4, start_ms=START), 400)
    assert a == b
    assert a != c


def test_the_inline_step_draws_what_random_gauss_draws() -> None:
    # `_Walk.step` draws its normals inline (it runs for every pair at every step); the
    # path is the one the plain formula with `random.Random.gauss` gives, bit for bit,
    # shocks included (a shock every 20 s here, so that both phases run many times).
    pair = dataclasses.replace(PAIRS[3], shock_gap_s=20.0)
    walk = _Walk(pair, 8)
    rng = random.Random(f"8:{pair.symbol}")
    log_level = math.log(pair.price)
    log_p = log_level + rng.gauss(0.0, 0.01)
    assert walk.log_p == log_p
    dt = 0.25
    sigma = pair.vol * math.sqrt(dt / YEAR_S)
    phase_left = phase_rate = rebound_left = rebound_rate = 0.0
    shocks = traded = 0
    for _ in range(4000):
        if phase_left > 0:
            span = min(dt, phase_left)
            log_p += phase_rate * span
            phase_left -= span
            if phase_left <= 0 and rebound_left:
                phase_left, phase_rate, rebound_left = rebound_left, rebound_rate, 0.0
        elif rng.random() < dt / pair.shock_gap_s:
            shocks += 1
            depth = rng.uniform(0.05, 0.10) if rng.random() < 0.08 else rng.uniform(0.022, 0.045)
            fall = -math.log(1 - depth)
            phase_left = rng.uniform(15, 90)
            phase_rate = -fall / phase_left
            rebound_left = rng.uniform(60, 600)
            rebound_rate = fall * rng.uniform(0.5, 1.3) / rebound_left
        log_p += rng.gauss(0.0, sigma) - KAPPA * (log_p - log_level) * dt
        expected = round(math.exp(log_p), 2) if rng.random() < pair.activity else None
        assert walk.step(dt) == expected
        assert walk.log_p == log_p
        traded += expected is not None
    assert shocks >= 3 and traded > 3000


def test_a_pair_path_does_not_depend_on_the_others() -> None:
    alone = run_steps(SimulatedMarket(["SOL/USDT"], seed=5, start_ms=START), 300)
    together = run_steps(SimulatedMarket(seed=5, start_ms=START), 300)
    assert alone == [t for t in together if t.symbol == "SOL/USDT"]


def test_about_twenty_well_known_pairs_at_sane_prices() -> None:
    market = SimulatedMarket(seed=1, start_ms=START)
    assert 18 <= len(PAIRS) <= 25
    rules = market.markets()
    ticks = run_steps(market, 4 * 60 * 10)  # ten minutes
    for pair in PAIRS:
        prices = [t.price for t in ticks if t.symbol == pair.symbol]
        assert prices, pair.symbol
        assert 0.8 * pair.price < min(prices) and max(prices) < 1.2 * pair.price
        tick = rules[pair.symbol].price_tick
        assert tick is not None
        # Prices sit on the tick grid.
        assert all(Decimal(repr(p)) % tick == 0 for p in prices[:50]), pair.symbol


def test_history_covers_the_warm_up_and_ends_before_start() -> None:
    market = SimulatedMarket(seed=1, warmup_ms=3_660_000, start_ms=START)
    history = market.history(START)
    assert min(t.ts_ms for t in history) == START - 3_660_000
    assert max(t.ts_ms for t in history) < START


def test_unknown_symbol() -> None:
    with pytest.raises(UnknownSymbol, match="FOO/USDT"):
        SimulatedMarket(["BTC/USDT", "FOO/USDT"])


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 6, 8])
def test_default_drop_trigger_fires_within_a_few_minutes(seed: int) -> None:
    market = SimulatedMarket(seed=seed, start_ms=START)
    rules = market.markets()
    trader = Trader(StrategyParams(), Ledger("USDT", Decimal(1000)), rules.__getitem__)
    broker = PaperBroker(Decimal("0.001"))
    for tick in market.history(START):
        trader.warm(*tick)
    first_entry = None
    for i in range(4 * 60 * 6):  # six minutes of 250 ms steps
        for tick in market.step(START + i * 250):
            intent = trader.on_tick(*tick)
            if intent is None:
                continue
            first_entry = first_entry or tick.ts_ms
            for event in broker.execute(intent):
                if isinstance(event, Fill):
                    trader.on_fill(event)
                else:
                    trader.on_closed(event)
        if first_entry:
            break
    assert first_entry is not None, f"seed {seed}: no entry in six minutes"
    trader.ledger.check()


def test_run_sends_history_then_live_batches() -> None:
    market = SimulatedMarket(["BTC/USDT"], seed=1, start_ms=START, realtime=False, max_steps=20)
    batches: list[TickBatch] = []

    async def main() -> None:
        send, recv = trio.open_memory_channel[TickBatch](100)
        async with trio.open_nursery() as nursery:
            await nursery.start(market.run, send)
            with trio.fail_after(5):
                while sum(len(b.ticks) for b in batches if not b.warmup) < 20:
                    batches.append(await recv.receive())
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert batches[0].warmup and not any(b.warmup for b in batches[1:])
    live = [t for b in batches[1:] for t in b.ticks]
    assert [t.ts_ms for t in live] == [START + i * 250 for i in range(20)]


def test_a_restarted_market_goes_on_from_its_last_prices() -> None:
    market = SimulatedMarket(("BTC/USDT", "ETH/USDT"), seed=8, warmup_ms=0, realtime=False)
    market.resume_from({"BTC/USDT": 12_345.0})  # far from BTC's level of the pairs
    first = {t.symbol: t.price for t in market.step(1_000)}
    assert abs(first["BTC/USDT"] / 12_345.0 - 1) < 0.01
    fresh = SimulatedMarket(("BTC/USDT",), seed=8, warmup_ms=0, realtime=False)
    assert abs(fresh.step(1_000)[0].price / 12_345.0 - 1) > 0.5  # from its level instead


def test_a_restart_moves_no_price_more_than_a_tick_would() -> None:
    """The last live tick before a stop and the first after the restart, warm-up included:
    each coin moves as little as one step moves it, never by the warm-up's hour."""
    interval = 1000
    first = SimulatedMarket(seed=8, interval_ms=interval, realtime=False, start_ms=START)
    first.history(START)
    before: dict[str, float] = {}
    moves: list[float] = []  # what one live step moves a price, ordinarily
    for step in range(600):
        for tick in first.step(START + step * interval):
            if tick.symbol in before:
                moves.append(abs(tick.price / before[tick.symbol] - 1))
            before[tick.symbol] = tick.price
    restart = START + 3_600_000
    second = SimulatedMarket(seed=8, interval_ms=interval, realtime=False, start_ms=restart)
    second.resume_from(before)
    history = second.history(restart)
    assert {t.symbol for t in history} == set(before)  # the anchors warm up as ever
    after = {t.symbol: t.price for t in second.step(restart)}
    moves.sort()
    normal = moves[int(len(moves) * 0.999)]  # a large ordinary step (shocks aside)
    jumps = {s: abs(after[s] / before[s] - 1) for s in after}
    assert max(jumps.values()) <= max(normal, 0.002), jumps


def last_prices(ticks: list[Tick]) -> dict[str, float]:
    return {t.symbol: t.price for t in ticks}  # the last of each symbol wins


def test_the_opening_prices_are_where_the_warm_up_ends_and_drawing_them_moves_nothing() -> None:
    """What the app's first frame shows is what the engine then receives: the same market
    drawn without asking first gives the same history and the same live steps."""
    asked = SimulatedMarket(seed=8, start_ms=START)
    opening = asked.opening_prices()
    assert opening == asked.opening_prices()  # asking twice draws once
    history = asked.history(START)
    assert opening == last_prices(history) and len(opening) == len(PAIRS)
    assert all(START - asked.warmup_ms <= t.ts_ms < START for t in history)
    plain = SimulatedMarket(seed=8, start_ms=START)
    assert plain.history(START) == history
    assert plain.step(START) == asked.step(START)
    later = START + 60_000  # the history asked again, for another start: the same prices
    assert [t.price for t in asked.history(later)] == [t.price for t in history]


def test_a_resumed_market_opens_at_the_prices_it_kept() -> None:
    kept = {"BTC/USDT": 81_234.56, "ETH/USDT": 2_345.67}
    market = SimulatedMarket(("BTC/USDT", "ETH/USDT"), seed=8, start_ms=START)
    market.resume_from(kept)
    assert market.opening_prices() == kept  # known without drawing the history
    assert last_prices(market.history(START)) == kept
    partly = SimulatedMarket(("BTC/USDT", "ETH/USDT"), seed=8, start_ms=START)
    partly.resume_from({"BTC/USDT": 81_234.56})
    opening = partly.opening_prices()  # one coin not kept: the history is drawn
    assert opening["BTC/USDT"] == 81_234.56
    assert opening == last_prices(partly.history(START))
