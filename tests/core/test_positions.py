"""Positions and fill accounting, on hand-made orders: what each fill and closure does to
the position, the trade it closes, the dust, the ledger, and what the books then say.

Orders are put in place as the journal's would be (`restore_intent`), so that every
amount is the test's own; prices with more digits than Python's default 28 check that
the accounting never rounds.
"""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

import pytest

from tradebot_tui.core.anchors import AnchorMode
from tradebot_tui.core.book import Status
from tradebot_tui.core.dust import DustBin
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import CoinHold, EntryGate
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.market import MarketRules, replay_rules
from tradebot_tui.core.money import DIVISION, EXACT
from tradebot_tui.core.orders import (
    Fill,
    OrderClosed,
    OrderIntent,
    OrderStatus,
    OutcomeUnknown,
    Purpose,
    Side,
    Unexplained,
)
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.positions import Positions
from tradebot_tui.core.protections import Protections
from tradebot_tui.core.trader import Trader

SYM = "BTC/USDT"
T0 = 1_767_225_600_000
STEPPED = MarketRules(SYM, qty_step=D("0.001"), min_qty=D("0.010"), min_notional=D(0))


def trader(rules: MarketRules | None = None, budget: int = 1000) -> Trader:
    return Trader(
        StrategyParams(cooldown_s=60),
        Ledger("USDT", D(budget)),
        (lambda s: rules) if rules else replay_rules,
    )


def buy(t: Trader, cid: str, qty: D, price: D, *, ts: int = T0) -> OrderIntent:
    with localcontext(EXACT):
        reserved = qty * price * 2
    intent = OrderIntent(cid, SYM, Side.BUY, Purpose.ENTRY, qty, price, ts, reserved=reserved)
    t.restore_intent(intent)
    return intent


def sell(t: Trader, cid: str, qty: D, price: D, *, ts: int = T0 + 1) -> OrderIntent:
    intent = OrderIntent(
        cid, SYM, Side.SELL, Purpose.EXIT, qty, price, ts, reason=ExitReason.TAKE_PROFIT
    )
    t.restore_intent(intent)
    return intent


def fill(t: Trader, cid: str, qty: D, price: D, fee: D = D(0), ts: int = T0, **kw: D) -> None:
    t.on_fill(Fill(cid, qty, price, fee, ts, **kw))


def close(t: Trader, cid: str, status: OrderStatus = OrderStatus.FILLED, ts: int = T0):  # type: ignore[no-untyped-def]
    return t.on_closed(OrderClosed(cid, status, ts))


def held(t: Trader, qty: D = D(1), price: D = D(100)) -> None:
    buy(t, "b", qty, price)
    fill(t, "b", qty, price, D("0.1"))
    close(t, "b")


# -- buying --------------------------------------------------------------------------------


def test_a_buy_in_parts_adds_up_amount_cost_and_fees() -> None:
    t = trader()
    buy(t, "b", D(3), D(100))
    fill(t, "b", D(1), D(100), D("0.1"))
    assert t.books[SYM].state is State.ENTRY_PARTIAL and t.books[SYM].filled == D(1)
    fill(t, "b", D(2), D(101), D("0.2"), fee_elsewhere=D("0.05"))
    fill(t, "b", D(0), D(101), D(0), fee_elsewhere=D("0.07"))
    position = t.books[SYM].position
    assert position is not None and position.symbol == SYM
    assert (position.qty, position.cost, position.entry_fees) == (D(3), D(302), D("0.3"))
    assert t.books[SYM].filled == D(3) and t.fees_elsewhere == D("0.12")


def test_a_buy_filled_whole_waits_for_its_closure_as_pending() -> None:
    t = trader()
    buy(t, "b", D(2), D(100))
    fill(t, "b", D(2), D(100))
    assert t.books[SYM].state is State.ENTRY_PENDING  # not partial: all of it came
    close(t, "b")
    assert t.books[SYM].state is State.IN_POSITION


def test_a_fill_ends_an_unknown_outcome() -> None:
    t = trader()
    buy(t, "b", D(2), D(100))
    t.on_unknown(OutcomeUnknown("b", "timeout"))
    book = t.books[SYM]
    assert book.order_unknown is True
    t.now_ms = T0
    t.warm(T0, SYM, 100.0)
    assert t.status(SYM, T0)[0] is Status.UNKNOWN
    fill(t, "b", D(1), D(100))
    assert book.order_unknown is False and t.status(SYM, T0)[0] is Status.BUYING


def test_a_closure_ends_an_unknown_outcome() -> None:
    t = trader()
    buy(t, "b", D(2), D(100))
    t.on_unknown(OutcomeUnknown("b", "timeout"))
    close(t, "b", OrderStatus.CANCELED)
    assert t.books[SYM].order_unknown is False


def test_an_unexplained_report_holds_entries_on_that_coin_with_why() -> None:
    t = trader()
    buy(t, "b", D(2), D(100))
    t.on_unexplained(Unexplained("b", "a fill that is not ours"))
    assert dict(t.gate.held(CoinHold.UNEXPLAINED)) == {SYM: "a fill that is not ours"}


def test_accounting_is_exact_beyond_28_digits() -> None:
    price = D("100.0000000000000000000000000001")  # 31 significant digits
    with localcontext(EXACT):
        cost = D(3) * price
        fee = D("0.0000000000000000000000000001")
    t = trader()
    buy(t, "b", D(3), price)
    fill(t, "b", D(1), price, fee)
    fill(t, "b", D(2), price, fee, fee_elsewhere=fee)
    close(t, "b")
    position = t.books[SYM].position
    assert position is not None
    with localcontext(EXACT):
        assert (position.cost, position.bought_cost) == (cost, cost)
        assert position.entry_fees == fee + fee and t.fees_elsewhere == fee


def test_dust_joins_a_position_without_losing_a_digit() -> None:
    with localcontext(EXACT):
        qty = D("0.0050000000000000000000000000001")  # 29 significant digits
        cost = D("0.50000000000000000000000000001")
        total_qty, total_cost = qty + 1, cost + 100
    t = trader()
    t.dust.add(SYM, qty, cost)
    held(t, D(1), D(100))
    position = t.books[SYM].position
    assert position is not None
    assert (position.qty, position.cost) == (total_qty, total_cost)
    assert (position.bought_qty, position.bought_cost) == (total_qty, total_cost)


# -- selling -------------------------------------------------------------------------------


def test_a_sale_in_parts_books_each_parts_basis_and_the_trade_adds_them_up() -> None:
    t = trader()
    held(t, D(4), D(100))  # cost 400, entry fee 0.1
    sell(t, "s", D(4), D(110))
    fill(t, "s", D(1), D(110), D("0.11"), ts=T0 + 5)
    book = t.books[SYM]
    assert book.state is State.EXIT_PARTIAL
    assert t.ledger.realized_pnl == D(10)  # 110 - the basis of one in four: 100
    fill(t, "s", D(3), D(120), D("0.36"), ts=T0 + 6)
    trade = close(t, "s", ts=T0 + 7)
    assert trade is not None
    assert (trade.symbol, trade.entry_ts_ms, trade.exit_ts_ms) == (SYM, T0, T0 + 7)
    assert trade.qty == D(4) and trade.exit_price == D("117.5")  # (110 + 360) / 4
    assert trade.fees == D("0.1") + D("0.11") + D("0.36")
    assert trade.pnl == D(470) - D(400) - trade.fees
    assert trade.exit_reason is ExitReason.TAKE_PROFIT
    assert t.ledger.realized_pnl == D(70) and t.ledger.in_positions == 0
    t.ledger.check()


def test_a_part_sold_takes_its_share_of_the_cost_to_24_places() -> None:
    t = trader()
    held(t, D(3), D(100))
    sell(t, "s", D(3), D(100))
    fill(t, "s", D(1), D(100))  # a third of 300: 100 exactly
    fill(t, "s", D(1), D(100))  # a half of 200: 100 exactly
    position = t.books[SYM].position
    assert position is not None and position.cost == D(100) and position.sold_basis == D(200)
    t2 = trader()
    held(t2, D(3), D(1))  # cost 3: a third is 1, a sale of one costs 1.000...
    sell(t2, "s", D(3), D(1))
    fill(t2, "s", D(1), D(1))
    with localcontext(DIVISION):
        expected = (D(3) * D(1) / D(3)).quantize(D("1e-24"))
    assert t2.books[SYM].position.sold_basis == expected  # type: ignore[union-attr]


def test_a_trades_figures_keep_every_digit() -> None:
    """Exit price to the 40 digits of a division, fees and pnl exactly: past the default
    context's 28, which would round them."""
    tick = D("0.0000000000000000000000000001")
    t = trader()
    third = D(1) / D(3)  # 0.333... to the default context's 28 digits
    held(t, D(3), D(1))  # cost 3, entry fee 0.1
    sell(t, "s", D(3), D(1))
    fill(t, "s", D(3), third, tick)
    trade = close(t, "s")
    assert trade is not None
    with localcontext(EXACT):
        proceeds = D(3) * third
        fees = D("0.1") + tick
        pnl = proceeds - D(3) - fees
    with localcontext(DIVISION):
        exit_price = proceeds / D(3)
    assert trade.exit_price == exit_price and trade.fees == fees and trade.pnl == pnl


def test_an_exit_price_is_worked_out_to_40_digits() -> None:
    t = trader()
    held(t, D(3), D(1))
    sell(t, "s", D(3), D("0.5"))
    fill(t, "s", D(1), D("0.5"))
    fill(t, "s", D(2), D("0.25"))  # 1.0 for 3: a third each, to 40 digits
    trade = close(t, "s")
    assert trade is not None and trade.exit_price == D("0." + "3" * 40)


def test_a_part_sold_of_a_large_cost_keeps_its_24_places() -> None:
    """A basis of 10000.1 to 24 places has 29 digits: more than the default 28."""
    t = trader(budget=100_000)
    held(t, D(3), D("10000.1"))
    sell(t, "s", D(3), D("10000.1"))
    fill(t, "s", D(1), D("10000.1"))
    position = t.books[SYM].position
    assert position is not None and position.sold_basis == D("10000.1")
    assert position.cost == D("20000.2")


def test_a_partial_sale_of_a_many_digit_position_books_its_basis_exactly() -> None:
    """The basis of a part sold is the cost's share to 24 places, worked out at the 40
    digits of a division; what is left is the rest, exactly."""
    with localcontext(EXACT):
        price = D("100.00000000000000000000000000001")  # 32 digits
        cost = D(3) * price
    t = trader()
    held(t, D(3), price)
    sell(t, "s", D(3), price)
    fill(t, "s", D(1), price)
    position = t.books[SYM].position
    assert position is not None
    with localcontext(DIVISION):
        basis = (cost * D(1) / D(3)).quantize(D("1e-24"))
    with localcontext(EXACT):
        assert (position.sold_basis, position.cost, position.qty) == (basis, cost - basis, D(2))
        assert position.sold_proceeds == price


def test_a_sale_filled_whole_waits_for_its_closure_as_pending() -> None:
    t = trader()
    held(t, D(2), D(100))
    sell(t, "s", D(2), D(100))
    fill(t, "s", D(2), D(100))
    assert t.books[SYM].state is State.EXIT_PENDING  # not partial: all of it went


def test_an_exit_fill_of_more_than_is_held_is_refused_by_name() -> None:
    t = trader()
    held(t, D(1), D(100))
    sell(t, "s", D(1), D(100))
    with pytest.raises(ValueError) as info:
        fill(t, "s", D(2), D(100))
    assert str(info.value) == f"s: sold 2 {SYM} but only 1 held"


def test_a_sale_closed_out_leaves_no_dust_behind() -> None:
    t = trader(STEPPED)
    held(t, D(1), D(100))
    sell(t, "s", D(1), D(100))
    fill(t, "s", D(1), D(100))
    assert close(t, "s") is not None
    assert SYM not in t.dust and t.books[SYM].position is None
    assert t.books[SYM].state is State.COOLDOWN and t.open_count == 0


def test_an_exit_that_sold_nothing_is_no_trade() -> None:
    t = trader()
    held(t, D(1), D(100))
    sell(t, "s", D(1), D(100))
    assert close(t, "s", OrderStatus.CANCELED) is None
    assert t.books[SYM].state is State.IN_POSITION


def test_what_stays_after_an_entry_that_failed_asks_nothing_more() -> None:
    """An exit asked while a buy was open, and the buy filled nothing: nothing is due, and
    the next position is not sold at its first tick."""
    t = trader()
    buy(t, "b", D(1), D(100))
    assert t.exit_position(SYM, T0) is None
    assert t.books[SYM].exit_due is ExitReason.MANUAL
    close(t, "b", OrderStatus.CANCELED)
    book = t.books[SYM]
    assert book.exit_due is None and book.state is State.IDLE
    held(t, D(1), D(100))
    assert t.on_tick(T0 + 10, SYM, 100.0) is None  # no exit fires at 100


@pytest.mark.parametrize("how", ["closed", "dust"])
def test_a_coin_with_nothing_held_has_no_exits_to_keep_in_error(how: str) -> None:
    t = trader(STEPPED)
    if how == "closed":
        held(t, D(1), D(100))
        sell(t, "s", D(1), D(100))
        fill(t, "s", D(1), D(100))
        close(t, "s")
    else:
        buy(t, "b", D(1), D(100))
        fill(t, "b", D("0.005"), D(100))  # below the minimum amount: dust
        close(t, "b", OrderStatus.EXPIRED)
    assert t.books[SYM].watch is None
    t.fault(SYM, "an order in doubt")
    assert t.exit_position(SYM, T0 + 2) is None
    assert t.books[SYM].exit_due is None  # no exit to keep: nothing is held


# -- recovery ------------------------------------------------------------------------------


def test_a_sale_settled_after_a_fault_ends_its_trade() -> None:
    t = trader()
    held(t, D(2), D(100))
    sell(t, "s", D(2), D(105), ts=T0 + 3)
    t.fault(SYM, "its answer was lost")
    assert t.in_error() == [SYM] and t.books[SYM].error == "its answer was lost"
    assert t.recover(SYM) == ["s"]
    assert t.books[SYM].state is State.RECOVERING
    fill(t, "s", D(2), D(105), D("0.21"))
    trade = close(t, "s", ts=T0 + 9)
    assert trade is not None and trade.exit_ts_ms == T0 + 9 and trade.pnl == D(10) - D("0.31")
    book = t.books[SYM]
    assert (book.state, book.position, book.watch, book.exit_due, book.error) == (
        State.IDLE,
        None,
        None,
        None,
        "",
    )
    assert t.in_error() == [] and t.open_count == 0


def test_a_sale_in_doubt_that_sold_nothing_recovers_in_position_with_its_exits() -> None:
    t = trader()
    held(t, D(2), D(100))
    sell(t, "s", D(2), D(105))
    t.fault(SYM, "lost")
    t.recover(SYM)
    assert close(t, "s", OrderStatus.CANCELED) is None
    book = t.books[SYM]
    assert book.state is State.IN_POSITION and book.watch is not None and book.error == ""
    assert t.open_count == 1


def test_an_entry_in_doubt_that_bought_nothing_recovers_flat_and_uncounted() -> None:
    t = trader()
    buy(t, "b", D(1), D(100))
    t.fault(SYM, "lost")
    t.recover(SYM)
    assert close(t, "b", OrderStatus.CANCELED) is None
    assert t.books[SYM].state is State.IDLE and t.open_count == 0
    assert t.ledger.reserved == 0


def test_the_count_after_a_recovery_counts_open_entries_but_not_open_exits() -> None:
    t = trader()
    held(t, D(1), D(100))  # a position: counted
    other = "ETH/USDT"
    t.restore_intent(
        OrderIntent("e", other, Side.BUY, Purpose.ENTRY, D(1), D(10), T0, reserved=D(20))
    )  # an entry: counted
    t.fault("XRP/USDT", "lost")
    t.recover("XRP/USDT")  # nothing open: recovers at once, and counts afresh
    assert t.open_count == 2


# -- what the books say --------------------------------------------------------------------


def test_holding_is_the_position_plus_the_dust() -> None:
    t = trader(STEPPED)
    assert t.holding(SYM) == (0, 0)
    buy(t, "b", D(1), D(100))
    fill(t, "b", D("0.005"), D(100))
    close(t, "b", OrderStatus.EXPIRED)
    assert t.holding(SYM) == (D("0.005"), D("0.5"))
    held(t, D(1), D(100))  # the dust joined this position
    assert t.holding(SYM) == (D("1.005"), D("100.5"))
    assert t.holding("ETH/USDT") == (0, 0)


def test_held_symbols_are_what_must_keep_its_prices() -> None:
    t = trader(STEPPED)
    assert t.held_symbols() == frozenset()
    t.warm(T0, "IDLE/USDT", 1.0)  # a book, nothing held
    held(t, D(1), D(100))
    t.restore_intent(
        OrderIntent("e", "ETH/USDT", Side.BUY, Purpose.ENTRY, D(1), D(10), T0, reserved=D(20))
    )
    t.fault("XRP/USDT", "lost")
    assert t.held_symbols() == {SYM, "ETH/USDT", "XRP/USDT"}


def test_dust_is_held_only_while_it_could_be_sold_at_its_last_price() -> None:
    t = trader(STEPPED)
    buy(t, "b", D(1), D(100))
    fill(t, "b", D("0.005"), D(100))
    close(t, "b", OrderStatus.EXPIRED)
    assert SYM not in t.held_symbols()  # never priced yet
    t.warm(T0 + 1, SYM, 100.0)
    assert SYM not in t.held_symbols()  # 0.005 is under the 0.010 minimum
    t.dust.add(SYM, D("0.005"), D("0.5"))  # more dust: 0.010, the minimum exactly
    assert SYM in t.held_symbols()
    t.dust.add("GONE/USDT", D(5), D(5))  # dust of a coin without a book: not priced
    assert "GONE/USDT" not in t.held_symbols()


def test_unpriced_dust_does_not_hide_the_dust_after_it() -> None:
    t = trader(STEPPED)
    t.dust.add("GONE/USDT", D(5), D(5))  # first: no book, no price
    t.dust.add(SYM, D("0.010"), D(1))
    t.warm(T0, SYM, 100.0)
    assert t.held_symbols() == {SYM}


def test_equity_and_unrealized_pnl_value_the_positions_at_their_last_prices() -> None:
    t = trader()
    t.warm(T0, "ETH/USDT", 10.0)  # a book without a position
    held(t, D("0.5"), D(100))  # cost 50, fee 0.1
    t.warm(T0 + 1, SYM, 120.0)
    t.ledger.reserve("r", D(30))
    ledger = t.ledger
    assert ledger.free == D(1000) - D("50.1") - D(30) and ledger.reserved == D(30)
    assert t.equity() == ledger.free + D(30) + D(60)
    assert t.unrealized_pnl() == D(10)
    sell(t, "s", D("0.5"), D(120))
    fill(t, "s", D("0.5"), D(120))
    assert t.equity() == ledger.free + D(30)  # sold: nothing valued at the last price
    assert t.unrealized_pnl() == 0


def test_unrealized_pnl_adds_up_every_position() -> None:
    t = trader()
    held(t, D(1), D(100))
    t.restore_intent(
        OrderIntent("e", "ETH/USDT", Side.BUY, Purpose.ENTRY, D(2), D(10), T0, reserved=D(40))
    )
    t.on_fill(Fill("e", D(2), D(10), D(0), T0))
    t.on_closed(OrderClosed("e", OrderStatus.FILLED, T0))
    t.warm(T0 + 1, SYM, 101.0)
    t.warm(T0 + 1, "ETH/USDT", 11.0)
    assert t.unrealized_pnl() == D(1) + D(2)


# -- forgetting the coins that left the universe -------------------------------------------


def forgetting() -> Trader:
    t = trader(STEPPED)
    for symbol in ("A/USDT", "KEEP/USDT", "UNEX/USDT", "MISM/USDT"):
        t.warm(T0, symbol, 1.0)
    t.gate.hold(CoinHold.UNEXPLAINED, "UNEX/USDT", "?")
    t.gate.hold(CoinHold.MISMATCH, "MISM/USDT", "?")
    return t


def test_forget_drops_only_the_coins_that_left_and_hold_nothing() -> None:
    t = forgetting()
    held(t, D(1), D(100))  # SYM: in position
    assert sorted(t.forget({"KEEP/USDT"}, T0)) == ["A/USDT"]
    assert sorted(t.books) == [SYM, "KEEP/USDT", "MISM/USDT", "UNEX/USDT"]


def test_forget_keeps_dust_errors_orders_and_a_cooldown_until_it_is_over() -> None:
    t = forgetting()
    t.fault("ERR/USDT", "lost")
    buy(t, "b", D(1), D(100))
    fill(t, "b", D("0.005"), D(100))
    close(t, "b", OrderStatus.EXPIRED)  # SYM: dust only
    t.restore_intent(
        OrderIntent("e", "ORD/USDT", Side.BUY, Purpose.ENTRY, D(1), D(1), T0, reserved=D(2))
    )
    exited = "EX/USDT"
    t.restore_intent(
        OrderIntent("x", exited, Side.BUY, Purpose.ENTRY, D(1), D(1), T0, reserved=D(2))
    )
    t.on_fill(Fill("x", D(1), D(1), D(0), T0))
    t.on_closed(OrderClosed("x", OrderStatus.FILLED, T0))
    t.restore_intent(OrderIntent("y", exited, Side.SELL, Purpose.EXIT, D(1), D(1), T0))
    t.on_fill(Fill("y", D(1), D(1), D(0), T0))
    t.on_closed(OrderClosed("y", OrderStatus.FILLED, T0))  # cooling down for 60 s
    cooldown_ms = 60_000
    kept = {SYM, "ERR/USDT", "ORD/USDT", exited, "UNEX/USDT", "MISM/USDT"}
    assert set(t.forget(set(), T0 + cooldown_ms - 1)) == {"A/USDT", "KEEP/USDT"}
    assert set(t.books) == kept
    assert t.forget(set(), T0 + cooldown_ms) == [exited]  # its cooldown is over


# -- Positions on its own ------------------------------------------------------------------


def test_positions_make_books_with_the_anchor_and_exits_of_their_settings() -> None:
    params = StrategyParams(anchor=AnchorMode.SESSION_OPEN, window_s=120)
    ledger = Ledger("USDT", D(100))
    gate = EntryGate()
    positions = Positions(
        ledger,
        replay_rules,
        params,
        dust=DustBin(),
        gate=gate,
        protections=Protections(ledger),
    )
    book = positions.book(SYM)
    assert book.anchor.mode is AnchorMode.SESSION_OPEN and positions.book(SYM) is book
    intent = OrderIntent("u", SYM, Side.BUY, Purpose.ENTRY, D(1), D(10), T0)
    positions.register(book, intent)
    positions.on_unexplained(Unexplained("u", "not ours"))
    assert dict(gate.held(CoinHold.UNEXPLAINED)) == {SYM: "not ours"}
