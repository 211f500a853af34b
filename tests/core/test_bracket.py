"""The order list a position rests on the exchange with `exits.on_exchange` (core.bracket):
its legs' prices on the market's grid, and the sale each tick makes through it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from tradebot_tui.core.bracket import Bracket, bracket_for, leg_exit
from tradebot_tui.core.exits import ExitParams, ExitReason, ExitWatch
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.market import MarketRules, replay_rules
from tradebot_tui.core.orders import Fill, OrderClosed, OrderIntent, OrderKind, OrderStatus
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.trader import Trader

H = 3_600_000
FEE = D("0.001")
ON = ExitParams(on_exchange=True)
CENT = MarketRules("SOL/USDT", qty_step=D("0.001"), price_tick=D("0.01"), min_notional=D(5))


def bracket(entry: float, rules: MarketRules = CENT, qty: str = "1") -> Bracket:
    made = bracket_for(D(qty), rules, ExitWatch(ON, entry, 0), ON)
    assert isinstance(made, Bracket), made
    return made


def test_legs_stand_on_the_grid_where_the_reference_rules_fire() -> None:
    # 10.07 * 1.015 = 10.22105: the take-profit leg rounds up to 10.23; 10.07 * 0.97 =
    # 9.7679: the stop rounds down to 9.76; its limit 1 % lower, 9.6624, down to 9.66.
    b = bracket(10.07)
    assert (b.take_price, b.stop_price, b.stop_limit) == (D("10.23"), D("9.76"), D("9.66"))
    assert b.qty == D("1") and not b.trailing


def test_the_amount_is_the_holding_rounded_down_to_the_step() -> None:
    # A commission taken in the coin leaves 0.9989 of 1: the list sells 0.998.
    assert bracket(10.07, qty="0.9989").qty == D("0.998")


def test_without_a_tick_the_legs_are_the_reference_thresholds() -> None:
    b = bracket(100.0, replay_rules("BTC/USDT"))
    assert b.take_price == D(repr(100.0 * 1.015)) and b.stop_price == D(repr(100.0 * 0.97))


def test_a_list_below_the_market_minimum_says_why() -> None:
    # 0.5 at the stop limit 9.66 is 4.83, below the 5 the market asks for.
    why = bracket_for(D("0.5"), CENT, ExitWatch(ON, 10.07, 0), ON)
    assert why == "notional 4.830 below the minimum 5"
    # 0.52 * 9.66 = 5.0232: enough.
    assert isinstance(bracket_for(D("0.52"), CENT, ExitWatch(ON, 10.07, 0), ON), Bracket)


def test_the_stop_leg_follows_the_trailing_stop_once_above_the_stop_loss() -> None:
    watch = ExitWatch(ON, 10.0, 0)
    assert watch.check(1, 10.10) is None  # 1 % up: armed, peak 10.10
    made = bracket_for(D(1), CENT, watch, ON)
    assert isinstance(made, Bracket)
    # 10.10 * 0.995 = 10.0495, down to the tick; the limit 1 % lower, down to the tick.
    assert made.trailing and made.stop_price == D("10.04") and made.stop_limit == D("9.93")


def test_take_profit_fills_at_the_leg_price_not_at_the_tick_that_crossed_it() -> None:
    b = bracket(10.07)
    assert leg_exit(b, 10.22, take=True) is None  # not reached
    sale = leg_exit(b, 10.50, take=True)
    assert sale is not None and sale.kind is OrderKind.LIMIT_MAKER and sale.price == D("10.23")
    at = leg_exit(b, 10.23, take=True)
    assert at is not None and at.price == D("10.23")


def test_stop_leg_fills_down_to_its_limit_and_a_gap_below_it_is_an_emergency() -> None:
    b = bracket(10.07)  # stop 9.76, limit 9.66
    assert leg_exit(b, 9.77, take=False) is None  # not triggered
    at_stop = leg_exit(b, 9.76, take=False)
    assert at_stop is not None and at_stop.kind is OrderKind.STOP_LOSS_LIMIT
    at_limit = leg_exit(b, 9.66, take=False)
    assert at_limit is not None and not at_limit.emergency and at_limit.price == D("9.66")
    gap = leg_exit(b, 9.65, take=False)
    assert gap is not None and gap.emergency and gap.kind is OrderKind.MARKET
    assert gap.price == D("9.65")


@given(
    entry_cents=st.integers(min_value=100, max_value=10_000_000),
    price_cents=st.integers(min_value=1, max_value=20_000_000),
)
def test_on_the_grid_a_leg_triggers_exactly_when_the_reference_rule_fires(
    entry_cents: int, price_cents: int
) -> None:
    entry, price = entry_cents / 100, price_cents / 100
    b = bracket(entry, qty="1000")
    watch = ExitWatch(ON, entry, 0)
    reason = watch.check(1, price)
    assert (leg_exit(b, price, take=True) is not None) == (reason is ExitReason.TAKE_PROFIT)
    assert (leg_exit(b, price, take=False) is not None) == (reason is ExitReason.STOP_LOSS)


# -- the trader with its exits on the exchange ---------------------------------------------


def trader(rules: MarketRules = CENT) -> Trader:
    params = StrategyParams(exits=ON)
    return Trader(params, Ledger("USDT", D(1000)), lambda symbol: replace(rules, symbol=symbol))


def fill(t: Trader, intent: OrderIntent) -> None:
    fee = intent.qty * intent.price * FEE
    t.on_fill(Fill(intent.client_id, intent.qty, intent.price, fee, intent.ts_ms))
    t.on_closed(OrderClosed(intent.client_id, OrderStatus.FILLED, intent.ts_ms))


def bought(price: float = 9.79) -> Trader:
    """A trader holding SOL bought at `price` (after a 2 % drop from 10)."""
    t = trader()
    t.on_tick(0, "SOL/USDT", 10.0)
    t.on_tick(H, "SOL/USDT", 10.0)
    entry = t.on_tick(H + 1, "SOL/USDT", price)
    assert entry is not None
    fill(t, entry)
    return t


def test_a_take_profit_through_the_list_sells_at_the_leg_price() -> None:
    t = bought()  # 9.79 * 1.015 = 9.93685: the leg at 9.94
    protection = t.protection(t.books["SOL/USDT"])
    assert isinstance(protection, Bracket) and protection.take_price == D("9.94")
    sale = t.on_tick(H + 2, "SOL/USDT", 10.40)
    assert sale is not None and sale.reason is ExitReason.TAKE_PROFIT
    assert sale.kind is OrderKind.LIMIT_MAKER and sale.price == D("9.94")
    fill(t, sale)
    t.ledger.check()
    assert t.books["SOL/USDT"].state is State.COOLDOWN


def test_a_gap_through_the_stop_limit_is_one_emergency_sale_at_market() -> None:
    t = bought()  # stop 9.79 * 0.97 = 9.4963 -> 9.49, limit 9.3951 -> 9.39
    sale = t.on_tick(H + 2, "SOL/USDT", 9.38)
    assert sale is not None and sale.reason is ExitReason.EMERGENCY_EXIT
    assert sale.kind is OrderKind.MARKET and sale.price == D("9.38")
    assert t.on_tick(H + 3, "SOL/USDT", 9.30) is None  # once: the sale is on its way


def test_a_stop_within_its_limit_is_the_stop_leg() -> None:
    t = bought()
    sale = t.on_tick(H + 2, "SOL/USDT", 9.39)  # on the limit: filled
    assert sale is not None and sale.reason is ExitReason.STOP_LOSS
    assert sale.kind is OrderKind.STOP_LOSS_LIMIT and sale.price == D("9.39")


def test_max_hold_and_manual_exits_stay_in_the_bot() -> None:
    t = bought()
    sale = t.on_tick(H + 1 + 4 * H, "SOL/USDT", 9.79)
    assert sale is not None and sale.reason is ExitReason.MAX_HOLD
    assert sale.kind is OrderKind.MARKET
    t2 = bought()
    manual = t2.exit_position("SOL/USDT", H + 5)
    assert manual is not None and manual.kind is OrderKind.MARKET


def test_off_by_default_nothing_rests_and_exits_are_market_sales() -> None:
    t = Trader(StrategyParams(), Ledger("USDT", D(1000)), lambda s: replace(CENT, symbol=s))
    t.on_tick(0, "SOL/USDT", 10.0)
    t.on_tick(H, "SOL/USDT", 10.0)
    entry = t.on_tick(H + 1, "SOL/USDT", 9.79)
    assert entry is not None
    fill(t, entry)
    assert t.protection(t.books["SOL/USDT"]) is None
    sale = t.on_tick(H + 2, "SOL/USDT", 10.40)
    assert sale is not None and sale.kind is OrderKind.MARKET and sale.price == D("10.4")
