"""What the positions screen and the health report say about exits resting on the
exchange (`exits.on_exchange`)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from tests.core.test_bracket import CENT, bought, fill
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine.views import Views
from tradebot_tui.engine.watch import RunState

H = 3_600_000


def rows(trader: Trader, now: int = H + 2) -> dict[str, object]:
    views = Views(trader, watched=False)
    markets = {s: b.rules for s, b in trader.books.items()}
    snap = views.snapshot(
        now=now,
        mode="paper",
        state=RunState.RUNNING,
        source="simulated",
        markets=markets,
        orders=(),
        ticks=0,
        log_seq=0,
        feed="",
        circuit="",
        replay=None,
    )
    return {p.symbol: p for p in snap.positions}


def test_a_protected_position_shows_its_list_and_the_legs_prices() -> None:
    t = bought()  # 9.79: take-profit leg 9.94, stop 9.49, its limit 9.39
    [row] = rows(t).values()
    assert row.protection == "OCO resting · stop limit 9.39" and row.protected
    assert (row.take_price, row.stop_price) == (9.94, 9.49)
    # 1.43 % up: armed, and the trailing stop (9.93 * 0.995 = 9.88035) is above the
    # stop-loss: the stop leg follows it, down to the tick, its limit 1 % lower.
    assert t.on_tick(H + 2, "SOL/USDT", 9.93) is None
    assert t.on_tick(H + 3, "SOL/USDT", 9.89) is None  # above the moved stop: nothing
    row = rows(t)["SOL/USDT"]
    assert row.protection == "OCO trailing · stop limit 9.78" and row.stop_price == 9.88


def test_a_sale_through_the_gap_shows_as_an_emergency_exit() -> None:
    t = bought()
    sale = t.on_tick(H + 2, "SOL/USDT", 9.38)
    assert sale is not None
    assert rows(t)["SOL/USDT"].protection == "emergency exit sent"
    fill(t, sale)
    assert rows(t) == {}


def test_a_position_too_small_for_a_list_is_shown_unprotected() -> None:
    small = replace(CENT, min_notional=D(200))  # 100 USDT bought: no list can rest
    params = StrategyParams(exits=replace(StrategyParams().exits, on_exchange=True))
    t = Trader(params, Ledger("USDT", D(1000)), lambda s: replace(small, symbol=s))
    t.on_tick(0, "SOL/USDT", 10.0)
    t.on_tick(H, "SOL/USDT", 10.0)
    t.books["SOL/USDT"].rules = replace(small, symbol="SOL/USDT", min_notional=D(5))
    entry = t.on_tick(H + 1, "SOL/USDT", 9.79)
    assert entry is not None
    fill(t, entry)
    t.books["SOL/USDT"].rules = replace(small, symbol="SOL/USDT")
    row = rows(t)["SOL/USDT"]
    assert not row.protected and row.protection.startswith("none: notional 95.")


def test_off_the_exits_are_the_bots() -> None:
    t = Trader(StrategyParams(), Ledger("USDT", D(1000)), lambda s: replace(CENT, symbol=s))
    t.on_tick(0, "SOL/USDT", 10.0)
    t.on_tick(H, "SOL/USDT", 10.0)
    entry = t.on_tick(H + 1, "SOL/USDT", 9.79)
    assert entry is not None
    fill(t, entry)
    row = rows(t)["SOL/USDT"]
    assert row.protection == "" and row.protected and row.take_price == 9.79 * 1.015


def test_live_it_shows_what_the_exchange_holds_not_what_it_should() -> None:
    """Live, the screen shows the list the exchange holds: being placed, refused (with
    Binance's words), resting, and an exit of the bot's own cancelling it first."""
    from tradebot_tui.core.bracket import ListIds, ListState, RestingList
    from tradebot_tui.core.exits import ExitReason

    t = bought()
    t.signals.legs_live = True
    book = t.books["SOL/USDT"]
    row = rows(t)["SOL/USDT"]
    assert row.protection == "none: not placed yet" and not row.protected
    book.protect_note = "refused: Account has insufficient balance for requested action."
    row = rows(t)["SOL/USDT"]
    assert row.protection == f"none: {book.protect_note}" and not row.protected
    bracket = t.bracket(book)
    assert not isinstance(bracket, str) and bracket is not None
    book.resting = RestingList(ListIds("l", "a", "b"), bracket, 0)
    assert rows(t)["SOL/USDT"].protection == "none: order list placing"
    book.resting.state = ListState.RESTING
    row = rows(t)["SOL/USDT"]
    assert row.protection == "OCO resting · stop limit 9.39" and row.protected
    assert t.exit_position("SOL/USDT", H + 2) is None  # the list is cancelled first
    assert book.exit_due is ExitReason.MANUAL
    row = rows(t)["SOL/USDT"]
    assert row.protection == "manual: canceling the list" and row.protected
    assert t.due_exits() == []  # not the healer's to sell: the protector's
