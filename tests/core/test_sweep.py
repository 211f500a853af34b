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
from tradebot_tui.core.sweep import paper_conversion
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
    trade = apply(t, paper_conversion(intent, "USDT"))
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
    fill, closed = paper_conversion(intent, "USDT")
    assert fill == Fill("c1", D("0.04"), D(0), D(0), 1)
    assert isinstance(closed, OrderClosed) and closed.status is OrderStatus.FILLED
    assert closed.message == "converted to BNB (paper): worth about 3.724 USDT"  # 3.8 less 2 %
