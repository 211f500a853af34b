"""Conflation under overload: per symbol, the low, the high and the last of what the engine
could not take in time; the strategy makes the same entries as on the full stream."""

from __future__ import annotations

import math
import random
from decimal import Decimal

from tradebot_tui.config.settings import Settings
from tradebot_tui.config.validate import from_dict
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.market import replay_rules
from tradebot_tui.core.orders import Fill, OrderClosed, Purpose
from tradebot_tui.core.ticks import Tick
from tradebot_tui.core.trader import Trader
from tradebot_tui.exchange.conflation import Conflater
from tradebot_tui.exchange.paper import PaperBroker


def test_the_low_the_high_and_the_last_of_each_symbol_in_arrival_order() -> None:
    held = Conflater()
    held.add(
        [
            Tick(1, "A", 10.0),
            Tick(1, "B", 5.0),
            Tick(2, "A", 12.0),  # A's high
            Tick(3, "A", 9.0),  # A's low
            Tick(3, "B", 5.5),
            Tick(4, "A", 11.0),  # A's last
            Tick(4, "B", 5.2),  # B's last; B's low is its first, its high the 5.5
        ]
    )
    assert held.count == 7
    assert list(held.batch().ticks) == [
        Tick(1, "B", 5.0),
        Tick(2, "A", 12.0),
        Tick(3, "A", 9.0),
        Tick(3, "B", 5.5),
        Tick(4, "A", 11.0),
        Tick(4, "B", 5.2),
    ]
    single = Conflater()
    single.add([Tick(7, "C", 1.0)])
    assert list(single.batch().ticks) == [Tick(7, "C", 1.0)]  # kept once, not three times


def settings(exits: dict[str, float], cooldown_s: int, trigger_pct: float = 0.6) -> Settings:
    return from_dict(
        {
            "strategy": {
                "anchor": "rolling_high",
                "window_s": 300,
                "trigger_pct": trigger_pct,
            },
            "risk": {"cooldown_s": cooldown_s, "max_positions": 50, "stale_after_s": 0},
            "exits": exits,
            "budget": {"stake": 10, "initial": 100_000},
        },
        "test",
    )


def stream(symbols: int, seconds: int, per_second: int, seed: int) -> list[Tick]:
    """Random walks with drifting waves: a few messages a second per coin, stamped in ms."""
    rng = random.Random(seed)
    prices = [100.0 + i for i in range(symbols)]
    out = []
    for step in range(seconds * per_second):
        ts = 1_700_000_000_000 + step * 1000 // per_second
        for i in range(symbols):
            wave = 3e-6 * math.sin(step / (4000 + 300 * i) + i)
            prices[i] *= 1 + wave + rng.gauss(0, 0.00005)
            out.append(Tick(ts, f"C{i}/USDT", prices[i]))
    return out


def decisions(batches: list[list[Tick]], config: Settings) -> list[tuple[str, str, int]]:
    """(entry or exit reason, symbol, batch number) of every order of a paper trader."""
    params = config.strategy_params()
    trader = Trader(params, Ledger("USDT", Decimal(100_000)), replay_rules, id_prefix="t-")
    broker = PaperBroker(params.fee_rate)
    made = []
    for n, batch in enumerate(batches):
        for ts, symbol, price in batch:
            intent = trader.on_tick(ts, symbol, price)
            if intent is None:
                continue
            why = "entry" if intent.purpose is Purpose.ENTRY else str(intent.reason)
            made.append((why, symbol, n))
            for event in broker.execute(intent):
                if isinstance(event, Fill):
                    trader.on_fill(event)
                elif isinstance(event, OrderClosed):
                    trader.on_closed(event)
    trader.ledger.check()
    return made


SYMBOLS = 16


def batches_of(width_ms: int) -> tuple[list[list[Tick]], list[list[Tick]], int]:
    """The stream cut into the batches an engine `width_ms` behind takes in, in full and
    conflated; and how many ticks the conflated batches hold."""
    ticks = stream(symbols=SYMBOLS, seconds=3600, per_second=16, seed=3)
    chunks: dict[int, list[Tick]] = {}
    for tick in ticks:
        chunks.setdefault(tick[0] // width_ms, []).append(tick)
    full = [chunks[k] for k in sorted(chunks)]
    conflated = []
    for chunk in full:
        held = Conflater()
        held.add(chunk)
        conflated.append(list(held.batch().ticks))
    return full, conflated, sum(map(len, conflated))


# Entries only: an exit's level hangs on the entry's price, which is the tick that crossed
# the trigger on the full stream and the batch's low on the conflated one (live, it is the
# exchange's fill either way).
NO_EXIT = {
    "take_profit_pct": 1000,
    "stop_loss_pct": 99,
    "trailing_activation_pct": 1000,
    "max_hold_s": 365 * 86400,
}


def test_a_conflated_stream_makes_the_same_entries_as_the_full_one() -> None:
    # The engine half a second behind at every batch: 8 messages a coin conflated to 5
    # at most. The anchor sees every high and the trigger every low.
    full, conflated, kept = batches_of(500)
    assert kept < 0.7 * sum(map(len, full))  # it did conflate
    for trigger in (0.8, 1.2):
        config = settings(NO_EXIT, cooldown_s=0, trigger_pct=trigger)
        made_full = decisions(full, config)
        assert len(made_full) >= SYMBOLS // 2, trigger  # most coins drop that far once
        assert len({n for _, _, n in made_full}) >= len(made_full) // 2  # at their own time
        assert sorted(decisions(conflated, config)) == sorted(made_full), trigger
