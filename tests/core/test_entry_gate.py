"""One entry gate: the status the watchlist shows always names the reason the trader refused.

Hypothesis draws a trader state (pauses, circuit, a held symbol, stale prices, losses,
positions, budget, market minimums), then a tick far enough below the anchor to buy. A
copy of the trader takes the same tick as history (it never trades) and shows its status;
the original decides. Either it bought and the status said "watching", or it refused and
the status names its reason.
"""

from __future__ import annotations

import copy
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from tradebot_tui.core.anchors import AnchorMode
from tradebot_tui.core.book import Status
from tradebot_tui.core.gate import CoinHold, Pause
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.orders import Fill, OrderClosed, OrderIntent, OrderStatus, Purpose, Side
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.trader import Trader

SYMBOL = "BTC/USDT"
T0 = 1_767_225_600_000


@st.composite
def states(draw: st.DrawFn) -> dict[str, object]:
    return {
        "paused": draw(st.booleans()),
        "symbol_paused": draw(st.booleans()),
        "circuit_open": draw(st.booleans()),
        "held": draw(st.booleans()),
        "stale_after_s": draw(st.sampled_from([0, 30, 60])),
        "age_s": draw(st.sampled_from([0, 10, 31, 61, 600])),
        "daily_loss_limit_pct": draw(st.sampled_from([0.0, 1.0, 5.0])),
        "max_drawdown_pct": draw(st.sampled_from([0.0, 2.0, 10.0])),
        "loss": draw(st.sampled_from([D(0), D(5), D(30), D(120)])),
        "max_positions": draw(st.integers(1, 4)),
        "open_count": draw(st.integers(0, 5)),
        "spent": draw(st.sampled_from([D(0), D(500), D(899), D(950)])),
        "stake": draw(st.sampled_from([D(10), D(100)])),
        "step": draw(st.sampled_from([D("0.00001"), D("0.01"), D(1)])),
        "min_notional": draw(st.sampled_from([D(0), D(5), D(11), D(150)])),
        "min_qty": draw(st.sampled_from([D(0), D("0.5"), D(2)])),
        "drop_pct": draw(st.floats(2.01, 40.0)),
        "price": draw(st.sampled_from([0.5, 9.0, 100.0, 68000.0])),
    }


def build(state: dict[str, object]) -> tuple[Trader, int, float]:
    params = StrategyParams(
        anchor=AnchorMode.ROLLING_HIGH,
        window_s=60,
        trigger_pct=2.0,
        stake=state["stake"],  # type: ignore[arg-type]
        max_positions=state["max_positions"],  # type: ignore[arg-type]
        daily_loss_limit_pct=state["daily_loss_limit_pct"],  # type: ignore[arg-type]
        max_drawdown_pct=state["max_drawdown_pct"],  # type: ignore[arg-type]
        stale_after_s=state["stale_after_s"],  # type: ignore[arg-type]
    )
    rules = MarketRules(
        SYMBOL,
        qty_step=state["step"],  # type: ignore[arg-type]
        min_qty=state["min_qty"],  # type: ignore[arg-type]
        min_notional=state["min_notional"],  # type: ignore[arg-type]
    )
    trader = Trader(params, Ledger("USDT", D(1000)), lambda symbol: rules)
    level = float(state["price"])  # type: ignore[arg-type]
    for second in range(0, 121, 5):  # two windows of history: the anchor is ready
        trader.warm(T0 + second * 1000, SYMBOL, level)
    if state["loss"]:
        lose(trader, T0 + 100_000, state["loss"])  # type: ignore[arg-type]
    if state["spent"]:
        spent = min(state["spent"], trader.ledger.free)  # type: ignore[type-var]
        trader.ledger.reserve("elsewhere", spent)
    trader.gate.set(Pause.OWNER, bool(state["paused"]))
    trader.gate.set(Pause.BREAKER, bool(state["circuit_open"]))
    if state["symbol_paused"]:
        trader.gate.hold(CoinHold.OWNER, SYMBOL)
    if state["held"]:
        trader.gate.hold(CoinHold.MISMATCH, SYMBOL, "holding 0 BTC here, 0.5 on the exchange")
    trader.positions.open_count = int(state["open_count"])  # type: ignore[call-overload]
    ts = T0 + 125_000
    trader.now_ms = ts + int(state["age_s"]) * 1000  # type: ignore[call-overload]
    return trader, ts, level * (1 - float(state["drop_pct"]) / 100)  # type: ignore[arg-type]


def lose(trader: Trader, ts: int, loss: D) -> None:
    """A closed round trip on another coin that loses `loss` (no fees), at `ts`."""
    other = "ETH/USDT"
    buy = OrderIntent("b", other, Side.BUY, Purpose.ENTRY, D(1), D(200), ts, reserved=D(200))
    trader.restore_intent(buy)
    trader.on_fill(Fill("b", D(1), D(200), D(0), ts))
    trader.on_closed(OrderClosed("b", OrderStatus.FILLED, ts))
    sell = OrderIntent("s", other, Side.SELL, Purpose.EXIT, D(1), D(200) - loss, ts)
    trader.restore_intent(sell)
    trader.on_fill(Fill("s", D(1), D(200) - loss, D(0), ts))
    assert trader.on_closed(OrderClosed("s", OrderStatus.FILLED, ts)) is not None


@settings(max_examples=3000, deadline=None)
@given(states())
def test_the_status_shown_names_the_reason_the_trader_refused(state: dict[str, object]) -> None:
    trader, ts, price = build(state)
    shown_by = copy.deepcopy(trader)
    shown_by.warm(ts, SYMBOL, price)  # the same tick, as history: it never trades
    shown, _ = shown_by.status(SYMBOL, trader.now_ms)

    intent = trader.on_tick(ts, SYMBOL, price)

    if intent is not None:
        assert shown is Status.WATCHING
    else:
        refused = trader.books[SYMBOL].blocked
        assert refused is not None and refused is not Status.WATCHING
        assert shown is refused


def test_each_reason_is_reachable() -> None:
    """The property above is not vacuous: every refusal the gate knows is produced."""
    seen: set[Status] = set()
    base: dict[str, object] = {
        "paused": False,
        "symbol_paused": False,
        "circuit_open": False,
        "held": False,
        "stale_after_s": 0,
        "age_s": 0,
        "daily_loss_limit_pct": 0.0,
        "max_drawdown_pct": 0.0,
        "loss": D(0),
        "max_positions": 4,
        "open_count": 0,
        "spent": D(0),
        "stake": D(100),
        "step": D("0.00001"),
        "min_notional": D(0),
        "min_qty": D(0),
        "drop_pct": 3.0,
        "price": 100.0,
    }
    variants = [
        {},
        {"paused": True},
        {"symbol_paused": True},
        {"circuit_open": True},
        {"held": True},
        {"stale_after_s": 30, "age_s": 31},
        {"daily_loss_limit_pct": 1.0, "loss": D(30)},
        {"max_drawdown_pct": 2.0, "loss": D(30)},
        {"open_count": 4},
        {"spent": D(950)},
        {"min_notional": D(150)},
    ]
    for change in variants:
        trader, ts, price = build({**base, **change})
        trader.on_tick(ts, SYMBOL, price)
        book = trader.books[SYMBOL]
        seen.add(book.blocked or Status.BUYING)
    assert seen == {
        Status.BUYING,
        Status.PAUSED,
        Status.SYMBOL_PAUSED,
        Status.CIRCUIT_OPEN,
        Status.MISMATCH,
        Status.STALE,
        Status.DAILY_LOSS,
        Status.DRAWDOWN,
        Status.MAX_POSITIONS,
        Status.BUDGET,
        Status.BELOW_MINIMUM,
    }
