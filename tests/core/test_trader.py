"""The trader over hand-made tick sequences: entries, blocks, exits, money."""

from __future__ import annotations

from decimal import Decimal as D

from tradebot_tui.core.anchors import AnchorMode
from tradebot_tui.core.book import Status, Trade
from tradebot_tui.core.exits import ExitParams, ExitReason
from tradebot_tui.core.gate import Pause
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.market import replay_rules
from tradebot_tui.core.orders import Fill, OrderClosed, OrderIntent, OrderStatus, Purpose
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.trader import Trader

H = 3_600_000
FEE = D("0.001")


def make(params: StrategyParams | None = None, budget: int = 1000) -> Trader:
    return Trader(params or StrategyParams(), Ledger("USDT", D(budget)), replay_rules)


def fill(trader: Trader, intent: OrderIntent) -> Trade | None:
    """Fill an intent completely at its price, as the paper broker does."""
    fee = intent.qty * intent.price * FEE
    trader.on_fill(Fill(intent.client_id, intent.qty, intent.price, fee, intent.ts_ms))
    return trader.on_closed(OrderClosed(intent.client_id, OrderStatus.FILLED, intent.ts_ms))


def warm(trader: Trader, symbol: str = "BTC/USDT", price: float = 100.0) -> None:
    trader.on_tick(0, symbol, price)
    trader.on_tick(H, symbol, price)


def test_no_entry_during_warm_up_even_on_a_big_drop() -> None:
    t = make()
    t.on_tick(0, "BTC/USDT", 100.0)
    assert t.on_tick(H - 1, "BTC/USDT", 50.0) is None
    assert t.status("BTC/USDT", H - 1)[0] is Status.WARMING_UP


def test_entry_exactly_at_the_trigger() -> None:
    t = make()
    warm(t)
    assert t.on_tick(H + 1, "BTC/USDT", 98.01) is None
    intent = t.on_tick(H + 2, "BTC/USDT", 98.0)
    assert intent is not None
    assert intent.purpose is Purpose.ENTRY
    assert intent.qty == D("1.02040816")  # 100 / 98 rounded down to 1e-8
    assert intent.client_id == "tb-paper-sim-1"
    assert t.ledger.reserved == intent.qty * D(98) * (1 + FEE)
    assert t.books["BTC/USDT"].state is State.ENTRY_PENDING


def test_round_trip_take_profit_money_is_exact() -> None:
    t = make()
    warm(t)
    entry = t.on_tick(H + 1, "BTC/USDT", 98.0)
    assert entry is not None
    assert fill(t, entry) is None
    t.ledger.check()
    assert t.ledger.reserved == 0
    # Not on the entry tick, but on the next one: 98 * 1.015 = 99.47.
    assert t.on_tick(H + 2, "BTC/USDT", 99.46) is None
    exit_ = t.on_tick(H + 3, "BTC/USDT", 99.47)
    assert exit_ is not None and exit_.reason is ExitReason.TAKE_PROFIT
    trade = fill(t, exit_)
    assert trade is not None
    cost = D("1.02040816") * D(98)
    proceeds = D("1.02040816") * D("99.47")
    assert trade.pnl == proceeds - proceeds * FEE - cost - cost * FEE
    assert trade.exit_reason is ExitReason.TAKE_PROFIT
    assert trade.entry_price == D(98) and trade.exit_price == D("99.47")
    t.ledger.check()
    assert t.ledger.free == D(1000) + trade.pnl
    assert t.books["BTC/USDT"].state is State.COOLDOWN


def test_cooldown_then_hybrid_anchor_needs_a_fresh_drop() -> None:
    p = StrategyParams(cooldown_s=60)
    t = make(p)
    warm(t)
    entry = t.on_tick(H + 1, "BTC/USDT", 98.0)
    assert entry is not None
    fill(t, entry)
    exit_ = t.on_tick(H + 2, "BTC/USDT", 95.0)  # stop-loss: 98 * 0.97 = 95.06
    assert exit_ is not None and exit_.reason is ExitReason.STOP_LOSS
    fill(t, exit_)
    assert t.status("BTC/USDT", H + 3)[0] is Status.COOLDOWN
    assert t.on_tick(H + 59_000, "BTC/USDT", 90.0) is None  # still cooling down
    # Cooldown over; the anchor is min(rolling high 100, exit 95) = 95: 93.2 is 1.9 % below.
    assert t.on_tick(H + 62_000, "BTC/USDT", 93.2) is None
    assert t.books["BTC/USDT"].anchor_price == 95.0
    assert t.on_tick(H + 63_000, "BTC/USDT", 93.1) is not None


def test_blocks_paused_max_positions_budget() -> None:
    t = make(StrategyParams(max_positions=1), budget=150)
    for sym in ("A/USDT", "B/USDT"):
        warm(t, sym)
    t.gate.pause(Pause.OWNER)
    assert t.on_tick(H + 1, "A/USDT", 97.0) is None
    assert t.status("A/USDT", H + 1)[0] is Status.PAUSED
    t.gate.release(Pause.OWNER)
    first = t.on_tick(H + 2, "A/USDT", 97.0)
    assert first is not None
    fill(t, first)
    assert t.on_tick(H + 3, "B/USDT", 97.0) is None
    assert t.status("B/USDT", H + 3)[0] is Status.MAX_POSITIONS
    t.set_params(StrategyParams(max_positions=2))
    assert t.on_tick(H + 4, "B/USDT", 97.0) is None  # 50 USDT left: not enough for 100.1
    assert t.status("B/USDT", H + 4)[0] is Status.BUDGET


def test_exits_are_not_checked_on_the_entry_tick() -> None:
    # A stop-loss so tight that the entry price itself would hit it.
    p = StrategyParams(exits=ExitParams(stop_loss_pct=0.0001))
    t = make(p)
    warm(t)
    entry = t.on_tick(H + 1, "BTC/USDT", 98.0)
    assert entry is not None
    fill(t, entry)
    exit_ = t.on_tick(H + 2, "BTC/USDT", 97.99)
    assert exit_ is not None and exit_.reason is ExitReason.STOP_LOSS


def test_rejected_entry_releases_the_reservation() -> None:
    t = make()
    warm(t)
    entry = t.on_tick(H + 1, "BTC/USDT", 98.0)
    assert entry is not None
    t.on_closed(OrderClosed(entry.client_id, OrderStatus.REJECTED, H + 1, "insufficient"))
    assert t.ledger.free == D(1000) and t.ledger.reserved == 0
    assert t.open_count == 0
    assert t.books["BTC/USDT"].state is State.IDLE


def test_manual_exit() -> None:
    t = make()
    warm(t)
    entry = t.on_tick(H + 1, "BTC/USDT", 98.0)
    assert entry is not None
    fill(t, entry)
    assert t.exit_position("ETH/USDT", H + 2) is None
    exit_ = t.exit_position("BTC/USDT", H + 2)
    assert exit_ is not None and exit_.reason is ExitReason.MANUAL
    trade = fill(t, exit_)
    assert trade is not None and trade.exit_reason is ExitReason.MANUAL
    t.ledger.check()


def test_an_exit_asked_while_the_buy_is_open_is_due_once_it_ends() -> None:
    """Exit (or exit all, or the kill switch) while an entry is still open: nothing can be
    sold yet; once the buy fills the position is due for sale (`due_exits`), and a buy
    that ends with nothing bought leaves nothing due."""
    t = make()
    warm(t)
    entry = t.on_tick(H + 1, "BTC/USDT", 98.0)
    assert entry is not None
    assert t.exit_position("BTC/USDT", H + 2) is None
    assert t.due_exits() == []  # nothing held yet
    fill(t, entry)
    assert t.due_exits() == ["BTC/USDT"]
    exit_ = t.exit_position("BTC/USDT", H + 3, t.books["BTC/USDT"].exit_due or ExitReason.MANUAL)
    assert exit_ is not None and exit_.reason is ExitReason.MANUAL
    fill(t, exit_)
    assert t.due_exits() == [] and t.books["BTC/USDT"].exit_due is None

    u = make()
    warm(u)
    entry = u.on_tick(H + 1, "BTC/USDT", 98.0)
    assert entry is not None
    assert u.exit_position("BTC/USDT", H + 2) is None
    u.on_closed(OrderClosed(entry.client_id, OrderStatus.REJECTED, H + 2, "insufficient"))
    assert u.books["BTC/USDT"].exit_due is None and u.due_exits() == []


def test_a_due_exit_goes_at_the_next_tick_without_waiting_for_the_healer() -> None:
    """Paper has no healer: the coins a buy bought after an exit was asked for are sold at
    the coin's next tick, whatever its price, and only once."""
    t = make()
    warm(t)
    entry = t.on_tick(H + 1, "BTC/USDT", 98.0)
    assert entry is not None
    assert t.exit_position("BTC/USDT", H + 2) is None
    fill(t, entry)
    exit_ = t.on_tick(H + 3, "BTC/USDT", 98.0)  # no exit rule would fire at this price
    assert exit_ is not None and exit_.reason is ExitReason.MANUAL
    assert t.due_exits() == [] and t.on_tick(H + 4, "BTC/USDT", 98.0) is None


def test_exit_all_due_marks_what_is_held_and_what_is_being_bought() -> None:
    t = make()
    warm(t)
    warm(t, "ETH/USDT")
    bought = t.on_tick(H + 1, "BTC/USDT", 98.0)
    assert bought is not None
    fill(t, bought)
    buying = t.on_tick(H + 1, "ETH/USDT", 98.0)
    assert buying is not None and t.books["ETH/USDT"].buying
    assert sorted(t.exit_all_due(ExitReason.MANUAL)) == ["BTC/USDT", "ETH/USDT"]
    assert t.due_exits() == ["BTC/USDT"]  # the open buy's coins go once it ends


def test_new_anchor_mode_restarts_warm_up() -> None:
    t = make()
    warm(t)
    t.set_params(StrategyParams(anchor=AnchorMode.ROLLING_HIGH))
    assert t.on_tick(H + 1, "BTC/USDT", 90.0) is None
    assert t.status("BTC/USDT", H + 1)[0] is Status.WARMING_UP
