"""Converting dust (`core.sweep`): an order of its own a coin, journaled and replayed as a
sale is, at a price of zero in the quote currency; what is not converted is dust again."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import CoinHold
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.orders import (
    Fill,
    OrderClosed,
    OrderIntent,
    OrderKind,
    OrderStatus,
    OutcomeUnknown,
    Purpose,
    Side,
)
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.sweep import converted, paper_conversion, take_dust, why_not_on_account
from tradebot_tui.core.trader import Trader

H = 3_600_000
FEE = D("0.001")
SYM = "BTC/USDT"
RULES = {
    s: MarketRules(s, qty_step=D("0.001"), min_qty=D("0.001"), min_notional=D(5))
    for s in (SYM, "BNB/USDT", "USDT/DAI")
}


def make(**kw: object) -> Trader:
    return Trader(StrategyParams(**kw), Ledger("USDT", D(1000)), RULES.__getitem__)  # type: ignore[arg-type]


def apply(t: Trader, events: list[object]) -> object:
    trade = None
    for event in events:
        if isinstance(event, Fill):
            t.on_fill(event)
        elif isinstance(event, OrderClosed):
            trade = t.on_closed(event)
        else:
            raise AssertionError(event)
    return trade


def with_dust(t: Trader, sym: str = SYM, qty: str = "0.04") -> None:
    """`qty` of `sym` bought at 98 by an entry that then expired: dust (3.92 < 5), idle."""
    t.on_tick(0, sym, 100.0)
    t.on_tick(H // 2, sym, 100.0)
    entry = t.on_tick(H, sym, 98.0)
    assert entry is not None
    q = D(qty)
    t.on_fill(Fill(entry.client_id, q, entry.price, q * entry.price * FEE, H))
    t.on_closed(OrderClosed(entry.client_id, OrderStatus.EXPIRED, H))
    assert t.books[sym].state is State.IDLE and t.dust[sym].qty == q


def test_a_conversion_books_the_dust_cost_as_the_loss_and_leaves_the_coin_idle() -> None:
    t = make()
    with_dust(t)
    cost = t.dust[SYM].cost
    assert cost == D("3.92")
    assert t.why_not_convert(SYM) is None
    intent = t.convert_dust(SYM, H + 5)
    assert (intent.kind, intent.reason, intent.qty) == (
        OrderKind.DUST_CONVERT,
        ExitReason.DUST_CONVERTED,
        D("0.04"),
    )
    assert t.books[SYM].state is State.EXIT_PENDING and SYM not in t.dust
    assert t.open_count == 1
    trade = apply(t, paper_conversion(intent))
    assert trade is not None
    assert (trade.qty, trade.exit_price, trade.pnl, trade.fees) == (D("0.04"), 0, -cost, 0)  # type: ignore[attr-defined]
    assert trade.exit_reason is ExitReason.DUST_CONVERTED  # type: ignore[attr-defined]
    book = t.books[SYM]
    # Not a sale of the strategy's: no cooldown, the anchor keeps no exit price.
    assert book.state is State.IDLE and book.last_exit_ts is None
    assert book.anchor.last_exit_price is None  # type: ignore[attr-defined]
    assert book.position is None and t.open_count == 0 and SYM not in t.dust
    assert t.ledger.in_positions == 0 and t.ledger.realized_pnl == -cost
    t.ledger.check()
    assert t.why_not_convert(SYM) == "no dust"


def test_dust_left_by_a_sale_converts_in_the_cooldown_and_the_cooldown_goes_on() -> None:
    t = make(cooldown_s=600)
    t.on_tick(0, SYM, 100.0)
    t.on_tick(H // 2, SYM, 100.0)
    entry = t.on_tick(H, SYM, 98.0)
    assert entry is not None
    t.on_fill(Fill(entry.client_id, D("1.020"), D(98), D(0), H))
    t.on_closed(OrderClosed(entry.client_id, OrderStatus.FILLED, H))
    sale = t.on_tick(H + 1, SYM, 95.0)
    assert sale is not None
    t.on_fill(Fill(sale.client_id, D("1.0"), D(95), D(0), H + 1))
    t.on_closed(OrderClosed(sale.client_id, OrderStatus.CANCELED, H + 1))
    book = t.books[SYM]
    assert book.state is State.COOLDOWN and t.dust[SYM].qty == D("0.020")
    intent = t.convert_dust(SYM, H + 2)
    apply(t, paper_conversion(intent))
    assert book.state is State.COOLDOWN and book.last_exit_ts == H + 1
    assert book.anchor.last_exit_price == 95.0  # type: ignore[attr-defined]
    t.ledger.check()


def test_a_refused_conversion_puts_the_dust_back_as_it_was() -> None:
    t = make()
    with_dust(t)
    before = t.dust[SYM]
    intent = t.convert_dust(SYM, H + 5)
    trade = t.on_closed(OrderClosed(intent.client_id, OrderStatus.REJECTED, H + 6, "-5006"))
    assert trade is None
    assert t.dust[SYM] == before and t.books[SYM].state is State.IDLE
    assert t.open_count == 0 and t.ledger.realized_pnl == 0
    t.ledger.check()


def test_what_a_partial_conversion_leaves_is_dust_again_at_its_share_of_the_cost() -> None:
    t = make()
    with_dust(t)
    intent = t.convert_dust(SYM, H + 5)
    t.on_fill(Fill(intent.client_id, D("0.01"), D(0), D(0), H + 6))
    trade = t.on_closed(OrderClosed(intent.client_id, OrderStatus.FILLED, H + 6))
    assert trade is not None and trade.qty == D("0.01") and trade.pnl == D("-0.98")
    assert t.dust[SYM].qty == D("0.03") and t.dust[SYM].cost == D("2.94")
    assert t.books[SYM].state is State.IDLE
    t.ledger.check()


def test_a_conversion_in_doubt_settled_as_not_done_leaves_the_dust() -> None:
    t = make()
    with_dust(t)
    before = t.dust[SYM]
    intent = t.convert_dust(SYM, H + 5)
    t.on_unknown(OutcomeUnknown(intent.client_id, "503"))
    t.fault(SYM, "503")
    assert t.recover(SYM) == [intent.client_id]
    assert t.on_closed(OrderClosed(intent.client_id, OrderStatus.CANCELED, H + 9)) is None
    assert t.dust[SYM] == before and t.books[SYM].state is State.IDLE
    assert t.open_count == 0
    t.ledger.check()


def test_a_restart_replays_a_conversion_as_it_happened() -> None:
    live = make()
    with_dust(live)
    intent = live.convert_dust(SYM, H + 5)
    events = paper_conversion(intent)
    apply(live, events)
    again = make()
    with_dust(again)  # the journal's earlier orders, replayed
    again.restore_intent(intent)
    apply(again, events)
    assert again.ledger.realized_pnl == live.ledger.realized_pnl == D("-3.92")
    assert SYM not in again.dust and again.books[SYM].state is State.IDLE
    again.ledger.check()
    third = make()
    with pytest.raises(ValueError, match="no dust"):
        third.restore_intent(intent)  # a journal that does not add up says so


def test_what_is_never_converted() -> None:
    t = make()
    assert t.why_not_convert(SYM) == "no dust"
    with_dust(t, "BNB/USDT")
    assert t.why_not_convert("BNB/USDT") == "BNB is what the conversion pays in"
    with_dust(t, "USDT/DAI")
    assert t.why_not_convert("USDT/DAI") == "USDT is the quote currency"
    with_dust(t)
    t.gate.hold(CoinHold.MISMATCH, SYM, "holds 0.04 BTC, the exchange 0")
    assert t.why_not_convert(SYM) == "held: holds 0.04 BTC, the exchange 0"
    t.gate.unhold(CoinHold.MISMATCH, SYM)
    buy = t.on_tick(H + 10, SYM, 97.0)
    assert buy is not None
    assert t.why_not_convert(SYM) == "an order of it is open"
    t.on_fill(Fill(buy.client_id, buy.qty, buy.price, D(0), H + 10))
    assert t.why_not_convert(SYM) == "no dust"  # it joined the position, sold with it
    t.on_closed(OrderClosed(buy.client_id, OrderStatus.FILLED, H + 10))
    t.dust.add(SYM, D("0.001"), D("0.1"))  # as if left by another order
    assert t.why_not_convert(SYM) == "it is in position: its dust is sold with it"


def test_paper_says_what_the_dust_would_have_brought() -> None:
    intent = OrderIntent(
        "c1", SYM, Side.SELL, Purpose.EXIT, D("0.04"), D(95), 1, kind=OrderKind.DUST_CONVERT
    )
    fill, closed = paper_conversion(intent)
    assert fill == Fill("c1", D("0.04"), D(0), D(0), 1)
    assert isinstance(closed, OrderClosed) and closed.status is OrderStatus.FILLED
    assert closed.message == "converted to BNB (paper): worth about 3.724 USDT"  # 3.8 less 2 %


# -- the rules on their boundaries ---------------------------------------------------------

STEP = D("0.001")


@pytest.mark.parametrize(
    ("free", "locked", "why"),
    [
        (D("0.04"), D(0), None),  # the whole free balance is the dust
        (D("0.04") + STEP - D("1e-12"), D(0), None),  # less than a step more: ours
        (
            D("0.04") + STEP,
            D(0),
            "the account holds 0.041 BTC, more than the bot's dust (0.04): "
            "the conversion would take it all",
        ),
        (D("0.04") - D("1e-12"), D(0), "the account holds 0.039999999999 BTC, less than the dust"),
        (D("0.04"), D("1e-8"), "0.00000001 BTC is locked in an open order on the exchange"),
    ],
)
def test_the_account_must_hold_exactly_the_dust_to_a_step(
    free: D, locked: D, why: str | None
) -> None:
    assert why_not_on_account("BTC", D("0.04"), free, locked, STEP) == why


def test_the_conversion_is_a_sale_of_all_the_dust_at_the_last_price() -> None:
    t = make()
    with_dust(t)
    t.books[SYM].last_price = 97.5
    intent = t.convert_dust(SYM, H + 5)
    assert (intent.side, intent.purpose, intent.price) == (Side.SELL, Purpose.EXIT, D("97.5"))
    position = t.books[SYM].position
    assert position is not None and position.symbol == SYM and position.entry_ts_ms == H + 5


def test_without_a_last_price_the_conversion_is_valued_at_its_cost() -> None:
    t = make()
    with_dust(t)
    t.books[SYM].last_price = 0.0
    assert t.convert_dust(SYM, H + 5).price == D(98)  # 3.92 for 0.04


def test_another_open_position_is_counted_with_the_conversion() -> None:
    t = make()
    with_dust(t)
    t.on_tick(0, "BNB/USDT", 100.0)
    t.on_tick(H // 2, "BNB/USDT", 100.0)
    buy = t.on_tick(H, "BNB/USDT", 97.0)
    assert buy is not None and t.open_count == 1
    t.convert_dust(SYM, H + 5)
    assert t.open_count == 2


def test_a_conversion_of_nothing_reports_only_its_end() -> None:
    intent = OrderIntent("c", SYM, Side.SELL, Purpose.EXIT, D(1), D(1), 1)
    assert converted(intent, D(0), 7, "none") == [OrderClosed("c", OrderStatus.FILLED, 7, "none")]
    fill, closed = converted(intent, D("0.5"), 7, "half")
    assert fill == Fill("c", D("0.5"), D(0), D(0), 7) and closed.ts_ms == 7  # type: ignore[union-attr]


def test_taking_dust_that_is_not_there_names_the_coin() -> None:
    t = make()
    t.on_tick(0, SYM, 100.0)
    with pytest.raises(ValueError, match=r"^BTC/USDT: no dust to convert$"):
        take_dust(t.positions, t.books[SYM], 1)


def test_dust_of_a_coin_without_a_book_or_an_empty_one_is_not_converted() -> None:
    t = make()
    t.dust.add(SYM, D("0.01"), D(1))
    assert t.why_not_convert(SYM) == "no price seen yet"
    t.dust.add("BNB/USDT", D(0), D(0))
    assert t.why_not_convert("BNB/USDT") == "no dust"


def test_a_coin_held_for_an_order_nothing_explains_is_not_converted() -> None:
    t = make()
    with_dust(t)
    t.gate.hold(CoinHold.UNEXPLAINED, SYM, "an order nothing explains")
    assert t.why_not_convert(SYM) == "held: an order nothing explains"


def test_paper_values_the_dust_exactly() -> None:
    long = D("1.000000000000000000000000000001")  # 31 digits: past the default context
    intent = OrderIntent(
        "c1", SYM, Side.SELL, Purpose.EXIT, long, D(100), 1, kind=OrderKind.DUST_CONVERT
    )
    *_, closed = paper_conversion(intent)
    assert isinstance(closed, OrderClosed)
    assert closed.message == "converted to BNB (paper): worth about 98 USDT"
    huge = OrderIntent(  # 29 digits once shown to 8 places
        "c2", SYM, Side.SELL, Purpose.EXIT, D(10**15), D(10**6), 1, kind=OrderKind.DUST_CONVERT
    )
    *_, closed = paper_conversion(huge)
    assert closed.message == "converted to BNB (paper): worth about 980000000000000000000 USDT"  # type: ignore[union-attr]
    fine = OrderIntent(  # its value has 29 digits before it is rounded to 8 places
        "c3",
        SYM,
        Side.SELL,
        Purpose.EXIT,
        D("10000000000000000000.123456789"),
        D(100),
        1,
        kind=OrderKind.DUST_CONVERT,
    )
    *_, closed = paper_conversion(fine)
    assert closed.message.endswith("worth about 980000000000000000012.09876532 USDT")  # type: ignore[union-attr]


def test_a_conversion_in_doubt_settled_as_made_ends_like_one_that_was_not_in_doubt() -> None:
    t = make()
    with_dust(t)
    cost = t.dust[SYM].cost
    intent = t.convert_dust(SYM, H + 5)
    t.on_unknown(OutcomeUnknown(intent.client_id, "503"))
    t.fault(SYM, "503")
    t.recover(SYM)
    t.on_fill(Fill(intent.client_id, intent.qty, D(0), D(0), H + 9))
    trade = t.on_closed(OrderClosed(intent.client_id, OrderStatus.FILLED, H + 9))
    assert trade is not None and trade.pnl == -cost
    book = t.books[SYM]
    assert SYM not in t.dust and book.state is State.IDLE and book.position is None
    assert book.last_exit_ts is None and book.anchor.last_exit_price is None  # type: ignore[attr-defined]
    t.ledger.check()


def test_a_position_in_error_without_an_order_recovers_as_it_was_not_as_dust() -> None:
    t = make()
    with_dust(t)
    buy = t.on_tick(H + 1, SYM, 97.0)
    assert buy is not None
    t.on_fill(Fill(buy.client_id, buy.qty, buy.price, D(0), H + 1))
    t.on_closed(OrderClosed(buy.client_id, OrderStatus.FILLED, H + 1))
    held = t.books[SYM].position
    assert held is not None and held.qty == buy.qty + D("0.04") and SYM not in t.dust
    t.fault(SYM, "a report nothing explains")
    assert t.recover(SYM) == []  # no order: recovered at once
    book = t.books[SYM]
    assert book.state is State.IN_POSITION and book.position is held
    assert held.qty == buy.qty + D("0.04") and SYM not in t.dust
