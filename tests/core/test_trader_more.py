"""The trader, continued: anchor modes, protections, partial fills, dust, recovery."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

import pytest

from tradebot_tui.core.anchors import DAY_MS, AnchorMode
from tradebot_tui.core.book import Status
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import Pause
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.market import MarketRules, replay_rules
from tradebot_tui.core.money import DIVISION
from tradebot_tui.core.orders import (
    Fill,
    OrderClosed,
    OrderIntent,
    OrderStatus,
    OutcomeUnknown,
    Unexplained,
)
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.trader import Trader

H = 3_600_000
FEE = D("0.001")
SYM = "BTC/USDT"


def make(params: StrategyParams | None = None, budget: int = 1000, rules=replay_rules) -> Trader:  # type: ignore[no-untyped-def]
    return Trader(params or StrategyParams(), Ledger("USDT", D(budget)), rules)


def fill(t: Trader, intent: OrderIntent, qty: D | None = None, price: D | None = None) -> None:
    qty = intent.qty if qty is None else qty
    price = intent.price if price is None else price
    t.on_fill(Fill(intent.client_id, qty, price, qty * price * FEE, intent.ts_ms))


def close(
    t: Trader, intent: OrderIntent, status: OrderStatus = OrderStatus.FILLED, ts: int | None = None
):  # type: ignore[no-untyped-def]
    return t.on_closed(OrderClosed(intent.client_id, status, intent.ts_ms if ts is None else ts))


def round_trip(t: Trader, ts: int, buy: float, sell: float, sym: str = SYM):  # type: ignore[no-untyped-def]
    entry = t.on_tick(ts, sym, buy)
    assert entry is not None, "expected an entry"
    fill(t, entry)
    close(t, entry)
    exit_ = t.on_tick(ts + 1, sym, sell)
    assert exit_ is not None, "expected an exit"
    fill(t, exit_)
    return close(t, exit_)


# -- anchor modes through the trader ------------------------------------------------------


def test_rolling_high_mode_buys_two_percent_under_the_window_high() -> None:
    t = make(StrategyParams(anchor=AnchorMode.ROLLING_HIGH))
    t.on_tick(0, SYM, 100.0)
    t.on_tick(1000, SYM, 105.0)
    t.on_tick(H, SYM, 104.0)  # warm; anchor 105
    assert t.on_tick(H + 1, SYM, 102.91) is None  # 1.99 % below 105
    # Exactly 2 % is 102.9, but in floats (105 - 102.9) / 105 * 100 = 1.99999...: the
    # reference formula decides, so the first price that triggers is just below.
    assert t.on_tick(H + 2, SYM, 102.9) is None
    assert t.on_tick(H + 3, SYM, 102.8999) is not None


def test_session_open_mode_trades_from_the_first_tick_of_the_day() -> None:
    t = make(StrategyParams(anchor=AnchorMode.SESSION_OPEN))
    day = 20_000 * DAY_MS
    assert t.on_tick(day - 10, SYM, 200.0) is None
    assert t.on_tick(day, SYM, 100.0) is None  # new session opens at 100
    assert t.on_tick(day + 5, SYM, 98.5) is None
    intent = t.on_tick(day + 6, SYM, 98.0)
    assert intent is not None and intent.anchor == 100.0


def test_last_exit_mode_measures_from_the_exit_price() -> None:
    t = make(StrategyParams(anchor=AnchorMode.LAST_EXIT, cooldown_s=0))
    t.on_tick(0, SYM, 100.0)
    t.on_tick(1, SYM, 100.0)
    trade = round_trip(t, H, 98.0, 99.47)  # take-profit at 99.47
    assert trade is not None
    # Far past the window, the anchor is still the exit price.
    assert t.on_tick(10 * H, SYM, 120.0) is None
    assert t.books[SYM].anchor_price == 99.47
    assert t.on_tick(10 * H + 1, SYM, 97.4806) is not None  # 99.47 * 0.98


def test_hybrid_mode_is_rolling_high_without_recent_exit() -> None:
    t = make()
    t.on_tick(0, SYM, 100.0)
    t.on_tick(1, SYM, 101.0)
    assert t.on_tick(H, SYM, 99.0) is None
    assert t.books[SYM].anchor_price == 101.0


# -- protections --------------------------------------------------------------------------


def warm(t: Trader, syms: tuple[str, ...] = (SYM,)) -> None:
    """Ticks at 0 and H/2: entries allowed from H on, with 100 in the window until 1.5 H."""
    for s in syms:
        t.on_tick(0, s, 100.0)
        t.on_tick(H // 2, s, 100.0)


def test_daily_loss_limit_pauses_entries_until_the_next_utc_day() -> None:
    syms = ("A/USDT", "B/USDT", "C/USDT")
    t = make(StrategyParams(daily_loss_limit_pct=0.5, cooldown_s=0))
    start = 30 * DAY_MS  # a day boundary, so that the first day starts with the window
    for s in syms:
        t.on_tick(start - H, s, 100.0)
        t.on_tick(start, s, 100.0)
    trade = round_trip(t, start + 10, 98.0, 95.0, "A/USDT")  # stop-loss: about -3.26
    assert trade is not None and trade.pnl < D("-3")
    assert trade.exit_reason is ExitReason.STOP_LOSS
    trade = round_trip(t, start + 20, 98.0, 95.0, "B/USDT")
    assert trade is not None
    # Lost about 6.5 of 1000 (0.65 %) today: the 0.5 % limit blocks new entries.
    assert t.on_tick(start + 30, "C/USDT", 97.0) is None
    assert t.books["C/USDT"].blocked is Status.DAILY_LOSS
    assert t.status("C/USDT", start + 30)[0] is Status.DAILY_LOSS
    # A new UTC day starts from the new equity.
    t.on_tick(start + DAY_MS - 1000, "C/USDT", 100.0)
    assert t.on_tick(start + DAY_MS + 1, "C/USDT", 97.0) is not None


def test_max_drawdown_blocks_until_reset() -> None:
    t = make(StrategyParams(max_drawdown_pct=0.3, cooldown_s=0))
    warm(t, ("A/USDT", "B/USDT"))
    round_trip(t, H, 98.0, 99.47, "A/USDT")  # a win: new peak
    # The hybrid anchor is now the exit price 99.47: 97 is 2.5 % below it. Stop-loss at 94.
    round_trip(t, H + 10, 97.0, 94.0, "A/USDT")  # a loss of about 3.3 (0.33 % of peak)
    assert t.on_tick(H + 20, "B/USDT", 97.0) is None
    assert t.books["B/USDT"].blocked is Status.DRAWDOWN
    assert t.status("B/USDT", H + 20)[0] is Status.DRAWDOWN  # the watchlist's reason
    t.reset_drawdown()
    assert t.on_tick(H + 21, "B/USDT", 97.0) is not None


def test_stale_price_guard_uses_engine_time() -> None:
    t = make(StrategyParams(stale_after_s=60))
    warm(t)
    t.now_ms = H + 61_000 + 1  # the tick below is 61 s old when processed
    assert t.on_tick(H, SYM, 97.0) is None
    assert t.books[SYM].blocked is Status.STALE
    assert t.status(SYM, H + 61_001)[0] is Status.STALE
    t.now_ms = H + 2
    assert t.on_tick(H + 1, SYM, 97.0) is not None


def test_protections_never_block_exits() -> None:
    t = make(StrategyParams(daily_loss_limit_pct=0.01, max_drawdown_pct=0.01))
    warm(t)
    entry = t.on_tick(H, SYM, 98.0)
    assert entry is not None
    fill(t, entry)
    close(t, entry)
    t.gate.pause(Pause.OWNER)
    t.now_ms = 10 * H  # everything stale, too
    exit_ = t.on_tick(H + 1, SYM, 90.0)
    assert exit_ is not None and exit_.reason is ExitReason.STOP_LOSS


# -- partial fills, averages, dust ----------------------------------------------------------


STEP_RULES = MarketRules(SYM, qty_step=D("0.001"), min_qty=D("0.001"), min_notional=D(5))


def test_partial_entry_fills_average_and_release_the_surplus() -> None:
    t = make(rules=lambda s: STEP_RULES)
    warm(t)
    entry = t.on_tick(H, SYM, 98.0)
    assert entry is not None and entry.qty == D("1.020")
    fill(t, entry, D("0.5"), D("97.9"))
    assert t.books[SYM].state is State.ENTRY_PARTIAL
    fill(t, entry, D("0.3"), D("98.1"))
    close(t, entry, OrderStatus.CANCELED)
    book = t.books[SYM]
    assert book.state is State.IN_POSITION
    position = book.position
    assert position is not None
    assert position.qty == D("0.8")
    assert position.entry_price == (D("0.5") * D("97.9") + D("0.3") * D("98.1")) / D("0.8")
    assert t.ledger.reserved == 0
    t.ledger.check()


def test_partial_entry_below_the_minimum_becomes_dust_and_joins_the_next_position() -> None:
    t = make(StrategyParams(cooldown_s=0), rules=lambda s: STEP_RULES)
    warm(t)
    entry = t.on_tick(H, SYM, 98.0)
    assert entry is not None
    fill(t, entry, D("0.04"))  # worth 3.92 < 5 minimum notional
    close(t, entry, OrderStatus.EXPIRED)
    assert t.books[SYM].state is State.IDLE
    assert t.dust[SYM].qty == D("0.04")
    assert t.open_count == 0
    t.ledger.check()
    again = t.on_tick(H + 1, SYM, 97.9)
    assert again is not None
    fill(t, again)
    close(t, again)
    position = t.books[SYM].position
    assert position is not None and position.qty == D("0.04") + again.qty
    assert SYM not in t.dust
    exit_ = t.on_tick(H + 2, SYM, 90.0)
    assert exit_ is not None and exit_.qty == position.qty
    fill(t, exit_)
    trade = close(t, exit_)
    assert trade is not None and trade.qty == D("0.04") + again.qty
    t.ledger.check()
    assert t.ledger.in_positions == 0


def selling_at_95(rules: MarketRules = STEP_RULES) -> tuple[Trader, OrderIntent]:
    """A trader with 1.020 of SYM bought at 98 (step 0.001), now selling it at 95."""
    t = make(rules=lambda s: rules)
    warm(t)
    entry = t.on_tick(H, SYM, 98.0)
    assert entry is not None
    fill(t, entry)
    close(t, entry)
    exit_ = t.on_tick(H + 1, SYM, 95.0)
    assert exit_ is not None
    return t, exit_


def test_exit_partial_then_canceled_retries_the_rest() -> None:
    t, exit_ = selling_at_95()
    fill(t, exit_, D("0.5"))
    assert t.books[SYM].state is State.EXIT_PARTIAL
    assert close(t, exit_, OrderStatus.CANCELED) is None
    assert t.books[SYM].state is State.IN_POSITION
    retry = t.on_tick(H + 2, SYM, 94.9)
    assert retry is not None and retry.qty == D("0.520")
    fill(t, retry)
    trade = close(t, retry)
    assert trade is not None and trade.qty == D("1.020")
    t.ledger.check()


def test_exit_leaving_an_unsellable_rest_closes_the_trade_and_keeps_dust() -> None:
    t, exit_ = selling_at_95()
    fill(t, exit_, D("1.0"))
    trade = close(t, exit_, OrderStatus.CANCELED)
    assert trade is not None and trade.qty == D("1.0")
    assert t.dust[SYM].qty == D("0.020")
    assert t.books[SYM].state is State.COOLDOWN
    t.ledger.check()
    assert t.ledger.in_positions == t.dust[SYM].cost


@pytest.mark.parametrize("status", [OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.FAILED])
def test_every_failed_entry_releases_everything(status: OrderStatus) -> None:
    t = make()
    warm(t)
    entry = t.on_tick(H, SYM, 98.0)
    assert entry is not None
    close(t, entry, status)
    assert (t.ledger.free, t.ledger.reserved, t.open_count) == (D(1000), 0, 0)


def test_unrealized_pnl() -> None:
    t = make()
    warm(t)
    entry = t.on_tick(H, SYM, 98.0)
    assert entry is not None
    fill(t, entry)
    close(t, entry)
    t.on_tick(H + 1, SYM, 99.0)
    assert t.unrealized_pnl() == entry.qty * D(99) - entry.qty * D(98)
    assert t.equity() == t.ledger.free + t.ledger.reserved + entry.qty * D(99)


# -- faults and recovery -----------------------------------------------------------------------


def test_fault_blocks_the_symbol_and_recovery_cancels_and_releases() -> None:
    t = make()
    warm(t)
    entry = t.on_tick(H, SYM, 98.0)
    assert entry is not None
    t.fault(SYM, "unknown order on the exchange")
    assert t.books[SYM].state is State.ERROR
    assert t.status(SYM, H)[0] is Status.ERROR
    assert t.on_tick(H + 1, SYM, 90.0) is None  # no trading while in error
    to_cancel = t.recover(SYM)
    assert to_cancel == [entry.client_id]
    assert t.books[SYM].state is State.RECOVERING
    fill(t, entry, D("0.5"))  # a late fill, reported by the cancel
    close(t, entry, OrderStatus.CANCELED)
    book = t.books[SYM]
    assert book.state is State.IN_POSITION and book.watch is not None
    assert t.ledger.reserved == 0 and t.open_count == 1
    t.ledger.check()


def test_recovery_without_orders_ends_flat_at_once() -> None:
    t = make()
    warm(t)
    t.fault(SYM, "balance mismatch")
    assert t.recover(SYM) == []
    assert t.books[SYM].state is State.IDLE
    with pytest.raises(ValueError, match="not in error"):
        t.recover(SYM)


def test_open_circuit_blocks_entries_but_not_exits() -> None:
    t = make()
    warm(t, ("A/USDT", "B/USDT"))
    entry = t.on_tick(H, "A/USDT", 97.0)
    assert entry is not None
    fill(t, entry)
    close(t, entry)
    t.gate.pause(Pause.BREAKER)
    assert t.on_tick(H + 1, "B/USDT", 97.0) is None
    assert t.status("B/USDT", H + 1)[0] is Status.CIRCUIT_OPEN
    assert t.on_tick(H + 2, "A/USDT", 90.0) is not None  # the stop-loss still sells
    t.gate.release(Pause.BREAKER)
    assert t.on_tick(H + 3, "B/USDT", 97.0) is not None


# -- dust at its cost, the minimums at their boundary, reports of unknown orders -------------


def test_dust_enters_the_next_position_at_its_cost() -> None:
    """The entry price, and every exit level drawn from it, counts the dust at what it
    cost: bought 0.04 at 98 (3.92), then 1.020 at 97.9 (99.858)."""
    t = make(StrategyParams(cooldown_s=0), rules=lambda s: STEP_RULES)
    warm(t)
    entry = t.on_tick(H, SYM, 98.0)
    assert entry is not None
    fill(t, entry, D("0.04"))
    close(t, entry, OrderStatus.EXPIRED)
    assert (t.dust[SYM].qty, t.dust[SYM].cost) == (D("0.04"), D("3.92"))
    again = t.on_tick(H + 1, SYM, 97.9)
    assert again is not None and again.qty == D("1.021")
    fill(t, again)
    close(t, again)
    position = t.books[SYM].position
    assert position is not None
    assert (position.qty, position.cost) == (D("1.061"), D("3.92") + D("1.021") * D("97.9"))
    assert (position.bought_qty, position.bought_cost) == (position.qty, position.cost)
    with localcontext(DIVISION):  # the precision of every average price
        assert position.entry_price == (D("3.92") + D("99.9559")) / D("1.061")
    watch = t.books[SYM].watch
    assert watch is not None and watch.stop_price == float(position.entry_price) * (1 - 0.03)


def test_new_dust_joins_the_old_dust_at_both_costs() -> None:
    t = make(StrategyParams(cooldown_s=0), rules=lambda s: STEP_RULES)
    warm(t)
    for ts, price, qty in ((H, 98.0, D("0.04")), (H + 1, 97.5, D("0.01"))):
        entry = t.on_tick(ts, SYM, price)
        assert entry is not None
        fill(t, entry, qty)
        close(t, entry, OrderStatus.EXPIRED)
    dust = t.dust[SYM]
    assert (dust.qty, dust.cost) == (D("0.05"), D("3.92") + D("0.975"))
    assert t.ledger.in_positions == dust.cost
    t.ledger.check()


EXACT_MINIMUM = MarketRules(SYM, qty_step=D("0.001"), min_qty=D("0.020"), min_notional=D(0))


def test_what_is_left_at_exactly_the_minimum_stays_sellable_not_dust() -> None:
    t, exit_ = selling_at_95(EXACT_MINIMUM)
    assert exit_.qty == D("1.020")
    fill(t, exit_, D("1.000"))
    assert close(t, exit_, OrderStatus.CANCELED) is None  # 0.020 left: the minimum exactly
    assert SYM not in t.dust and t.books[SYM].state is State.IN_POSITION
    retry = t.on_tick(H + 2, SYM, 94.0)
    assert retry is not None and retry.qty == D("0.020")


def test_reports_of_an_order_we_do_not_have_are_refused_by_name() -> None:
    t = make()
    ghost = "tb-paper-sim-99"
    with pytest.raises(KeyError, match=f"fill for unknown order {ghost}"):
        t.on_fill(Fill(ghost, D(1), D(1), D(0), 0))
    with pytest.raises(KeyError, match=f"close for unknown order {ghost}"):
        t.on_closed(OrderClosed(ghost, OrderStatus.FILLED, 0))
    with pytest.raises(KeyError, match=f"unknown outcome of an unknown order {ghost}"):
        t.on_unknown(OutcomeUnknown(ghost, "timeout"))
    with pytest.raises(KeyError, match=f"unexplained report of an unknown order {ghost}"):
        t.on_unexplained(Unexplained(ghost, "?"))
    assert t.ledger.free == D(1000) and not t.books
