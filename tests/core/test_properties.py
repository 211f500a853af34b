"""Property tests: the ledger identity and the lifecycle hold over random operations.

The CI run does tens of thousands of operations; `pytest -m slow` runs the full counts
(at least 1,000,000 operations each) that DESIGN.md section 3 asks for.
"""

from __future__ import annotations

import random
from decimal import Decimal as D
from decimal import localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tradebot_tui.core.exits import ExitParams
from tradebot_tui.core.ledger import InsufficientBudget, Ledger
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import EXACT
from tradebot_tui.core.orders import Fill, OrderClosed, OrderIntent, OrderStatus, Purpose
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.trader import Trader

# Amounts with 0 to 12 decimals, from a hundred-millionth to a few thousand.
amounts = st.builds(
    lambda units, places: D(units).scaleb(-places),
    st.integers(min_value=1, max_value=5 * 10**11),
    st.integers(min_value=0, max_value=12),
).filter(lambda d: d <= D(5000))


class LedgerMachine(RuleBasedStateMachine):
    """Random reservations, fills, releases and exits; the identity holds at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger("USDT", D(0))
        self.keys: list[str] = []
        self.n = 0

    @initialize(initial=amounts)
    def start(self, initial: D) -> None:
        self.ledger = Ledger("USDT", initial * 10)

    @rule(amount=amounts)
    def reserve(self, amount: D) -> None:
        key = f"k{self.n}"
        self.n += 1
        if amount > self.ledger.free:
            with pytest.raises(InsufficientBudget):
                self.ledger.reserve(key, amount)
            return
        self.ledger.reserve(key, amount)
        self.keys.append(key)

    @precondition(lambda self: bool(self.keys))
    @rule(data=st.data(), share=st.fractions(0, D("1.2")), fee_bp=st.integers(0, 100))
    def fill(self, data: st.DataObject, share: object, fee_bp: int) -> None:
        key = data.draw(st.sampled_from(self.keys))
        held = self.ledger.reservation(key)
        cost = (held * D(share.numerator) / D(share.denominator)).quantize(D("1e-10"))  # type: ignore[attr-defined]
        fee = (cost * fee_bp / 10_000).quantize(D("1e-12"))
        if cost + fee > held + self.ledger.free:
            # Slippage beyond the whole free budget: the exchange refuses such a buy
            # (insufficient balance, when the budget is the account's), so it never fills.
            return
        symbol = data.draw(st.sampled_from(["A/USDT", "B/USDT"]))
        self.ledger.fill_entry(key, symbol, cost, fee)

    @precondition(lambda self: bool(self.keys))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.keys))
        self.keys.remove(key)
        self.ledger.release(key)

    @rule(data=st.data(), symbol=st.sampled_from(["A/USDT", "B/USDT"]))
    def exit(self, data: st.DataObject, symbol: str) -> None:
        held = self.ledger.position_cost(symbol)
        if not held:
            return
        basis = data.draw(st.sampled_from([held, (held / 3).quantize(D("1e-9"))]))
        proceeds = data.draw(amounts)
        fee = (proceeds / 1000).quantize(D("1e-12"))
        self.ledger.fill_exit(symbol, min(basis, held), proceeds, fee)

    @invariant()
    def identity_is_exact(self) -> None:
        self.ledger.check()
        assert self.ledger.free >= 0


LedgerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestLedgerMachine = LedgerMachine.TestCase


# -- the trader under a random, misbehaving broker ----------------------------------------------

RULES = {
    s: MarketRules(s, qty_step=D(step), price_tick=None, min_qty=D(step), min_notional=D(5))
    for s, step in (("BTC/USDT", "0.00001"), ("ETH/USDT", "0.0001"), ("DOGE/USDT", "1"))
}
START = {"BTC/USDT": 60_000.0, "ETH/USDT": 2_000.0, "DOGE/USDT": 0.1}


def simulate(seed: int, ticks: int, params: StrategyParams) -> int:
    """Random prices and a broker that fills, splits, delays, rejects and cancels.

    Checks the ledger identity and the bookkeeping after every operation; returns how
    many operations (ticks, fills and closures) it applied.
    """
    rng = random.Random(seed)
    trader = Trader(params, Ledger("USDT", D(rng.choice([150, 400, 1000]))), RULES.__getitem__)
    prices = dict(START)
    pending: list[tuple[int, OrderIntent, list[Fill], OrderStatus]] = []
    ops = 0
    ts = 0
    for _ in range(ticks):
        ts += rng.choice((250, 1000, 15_000))
        symbol = rng.choice(list(prices))
        prices[symbol] *= 1 + rng.gauss(0, 0.006)
        price = round(prices[symbol], 8 if symbol == "DOGE/USDT" else 2)
        intent = trader.on_tick(ts, symbol, price)
        ops += 1
        if intent is not None:
            pending.append(plan(rng, intent, ts))
        for item in [p for p in pending if p[0] <= ts]:
            pending.remove(item)
            ops += deliver(trader, item, ts)
        check(trader)
    for item in pending:
        ops += deliver(trader, item, ts)
    check(trader)
    assert trader.ledger.reserved == 0
    return ops


def plan(
    rng: random.Random, intent: OrderIntent, ts: int
) -> tuple[int, OrderIntent, list[Fill], OrderStatus]:
    """Decide now what the broker will report, and when."""
    outcome = rng.random()
    px = intent.price * D(str(round(rng.uniform(0.995, 1.005), 4)))
    fills: list[Fill] = []
    if outcome < 0.15:
        status = rng.choice([OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.FAILED])
    else:
        pieces = rng.choice([1, 1, 2, 3])
        step = RULES[intent.symbol].qty_step
        left = intent.qty
        for i in range(pieces):
            qty = left if i == pieces - 1 else (left * D(rng.uniform(0.1, 0.6))).quantize(step)
            if qty <= 0:
                continue
            fills.append(Fill(intent.client_id, qty, px, (qty * px * D("0.001")), ts))
            left -= qty
        if outcome < 0.35 and len(fills) > 1:
            fills.pop()  # the last piece never comes: the order is canceled
            status = OrderStatus.CANCELED
        else:
            status = OrderStatus.FILLED
    return ts + rng.choice((0, 0, 1000, 30_000)), intent, fills, status


def deliver(trader: Trader, item: tuple[int, OrderIntent, list[Fill], OrderStatus], ts: int) -> int:
    _, intent, fills, status = item
    for f in fills:
        trader.on_fill(f)
        check(trader)
    trader.on_closed(OrderClosed(intent.client_id, status, ts))
    return len(fills) + 1


def check(trader: Trader) -> None:
    ledger = trader.ledger
    ledger.check()
    entry_orders = [o for o in trader.open_orders() if o.purpose is Purpose.ENTRY]
    assert ledger.reserved == sum((ledger.reservation(o.client_id) for o in entry_orders), D(0))
    for symbol, book in trader.books.items():
        held = book.position.cost if book.position is not None else D(0)
        dust = trader.dust[symbol].cost if symbol in trader.dust else D(0)
        assert ledger.position_cost(symbol) == held + dust, symbol
        if book.state is State.IDLE:
            assert book.order is None
    # Open: a position not yet closed (even if all sold, until its order ends), or an
    # entry order pending.
    assert trader.open_count == sum(
        1
        for b in trader.books.values()
        if b.position is not None or (b.order is not None and b.order.purpose is Purpose.ENTRY)
    )


trader_params = st.builds(
    StrategyParams,
    window_s=st.sampled_from([60, 600, 3600]),
    trigger_pct=st.sampled_from([0.5, 1.0, 2.0]),
    stake=st.sampled_from([D(50), D(100), D("133.37")]),
    max_positions=st.integers(1, 3),
    cooldown_s=st.sampled_from([0, 60, 900]),
    exits=st.builds(
        ExitParams,
        take_profit_pct=st.sampled_from([0.5, 1.5]),
        stop_loss_pct=st.sampled_from([0.5, 3.0]),
        trailing_activation_pct=st.sampled_from([0.3, 1.0]),
        trailing_distance_pct=st.sampled_from([0.1, 0.5]),
        max_hold_ms=st.sampled_from([60_000, 3_600_000]),
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), params=trader_params)
def test_trader_bookkeeping_under_a_random_broker(seed: int, params: StrategyParams) -> None:
    simulate(seed, 1500, params)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_million_trader_operations() -> None:
    total = 0
    rng = random.Random(20261124)
    while total < 1_000_000:
        params = StrategyParams(
            window_s=rng.choice([60, 600]),
            trigger_pct=rng.choice([0.5, 1.0]),
            max_positions=rng.randint(1, 3),
            cooldown_s=rng.choice([0, 60]),
        )
        total += simulate(rng.getrandbits(32), 20_000, params)
    assert total >= 1_000_000


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_million_ledger_operations() -> None:
    rng = random.Random(7)
    ledger = Ledger("USDT", D(10_000))
    keys: list[str] = []
    for n in range(1_000_000):
        op = rng.random()
        if op < 0.3:
            amount = D(rng.randint(1, 10**10)).scaleb(-rng.randint(2, 8))
            if amount <= ledger.free:
                ledger.reserve(f"k{n}", amount)
                keys.append(f"k{n}")
        elif op < 0.6 and keys:
            key = rng.choice(keys)
            cost = (ledger.reservation(key) * D(rng.randint(0, 120)) / 100).quantize(D("1e-10"))
            ledger.fill_entry(key, rng.choice("AB"), cost, (cost / 1000).quantize(D("1e-12")))
        elif op < 0.8 and keys:
            ledger.release(keys.pop(rng.randrange(len(keys))))
        else:
            symbol = rng.choice("AB")
            held = ledger.position_cost(symbol)
            if held:
                proceeds = (held * D(rng.randint(90, 110)) / 100).quantize(D("1e-8"))
                basis = held if rng.random() < 0.5 else (held / 2).quantize(D("1e-9"))
                ledger.fill_exit(symbol, basis, proceeds, (proceeds / 1000).quantize(D("1e-12")))
        # The identity after every operation (O(1)); the full check, which also re-sums
        # every reservation and position, now and then.
        with localcontext(EXACT):
            assert ledger.free + ledger.reserved + ledger.in_positions == ledger.realized_equity()
        if n % 9973 == 0:
            ledger.check()
    ledger.check()
