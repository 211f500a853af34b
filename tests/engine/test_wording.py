"""What the engine says, tested as the pure functions it is made of."""

from __future__ import annotations

import logging
from decimal import Decimal as D

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.book import Trade
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.orders import OrderIntent, OrderStatus, Purpose, Side
from tradebot_tui.engine import wording

BUY = OrderIntent(
    "tb-p-abcd2345-7",
    "BTC/USDT",
    Side.BUY,
    Purpose.ENTRY,
    D("0.00147"),
    D("68000"),
    1,
    reserved=D("100.0959"),
    anchor=70_000.0,
    drop_pct=2.857,
)
SELL = OrderIntent(
    "tb-p-abcd2345-8",
    "BTC/USDT",
    Side.SELL,
    Purpose.EXIT,
    D("0.00147"),
    D("69100"),
    2,
    reason=ExitReason.TAKE_PROFIT,
)


def trade(pnl: str, reason: ExitReason = ExitReason.TAKE_PROFIT) -> Trade:
    return Trade("BTC/USDT", 1, D("68000"), 2, D("69100"), D("0.00147"), reason, D(pnl), D("0.2"))


def test_order_lines() -> None:
    assert wording.intent_line(BUY, 2) == (
        "BUY 0.00147 BTC/USDT @ 68,000.00: 2.86% below anchor 70,000.00"
    )
    assert wording.intent_line(SELL, 2) == "SELL 0.00147 BTC/USDT @ 69,100.00: take profit"
    assert wording.order_text(SELL, "") == "take profit"
    assert wording.order_text(BUY, "not sent: disk full") == "drop trigger: not sent: disk full"


def test_trade_line_and_notice() -> None:
    assert wording.trade_line(trade("1.3148"), "USDT") == (
        "closed BTC/USDT: take profit, pnl +1.31 USDT"
    )
    won = wording.trade_notice(trade("1.3148"), "USDT", 2)
    assert won == (
        "Sold BTC/USDT: take profit",
        "0.00147 @ 69,100.00, PnL +1.31 USDT",
        "information",
        False,
        "fills",  # a notification of the fills kind
    )
    lost = wording.trade_notice(trade("-3.2", ExitReason.MANUAL), "USDT", 2)
    assert (lost.severity, lost.answer) == ("warning", True)  # a manual exit answers the user


def test_an_order_that_ended_without_a_trade() -> None:
    bought = wording.order_closed_notice(BUY, OrderStatus.CANCELED, D("0.001"), D("68010"), "", 2)
    assert bought == (
        "Bought BTC/USDT",
        "0.001 @ 68,010.00 (canceled)",
        "information",
        False,
        "fills",
    )
    refused = wording.order_closed_notice(
        BUY, OrderStatus.REJECTED, D(0), None, "InsufficientFunds: balance", 2
    )
    assert refused == (
        "BTC/USDT: buy rejected",
        "InsufficientFunds: balance",
        "error",
        False,
        "errors",
    )
    expired = wording.order_closed_notice(BUY, OrderStatus.EXPIRED, D(0), None, "", 2)
    assert expired.message == "tb-p-abcd2345-7 ended without a fill."
    assert expired.severity == "warning" and expired.event == ""  # not a failure: not sent


def test_answers_to_commands() -> None:
    assert (
        wording.cancel_not_open("x-1", None).message
        == "x-1: not open (unknown order); nothing to cancel."
    )
    assert "already filled" in wording.cancel_not_open("x-1", OrderStatus.FILLED).message
    assert "Entries on BTC/USDT are paused" in wording.cancel_sent(BUY).message
    assert "paused" not in wording.cancel_sent(SELL).message
    failed = wording.cancel_failed("x-1", "NetworkError: timed out")
    assert failed.severity == "error" and "timed out" in failed.message
    applied = wording.settings_applied(["strategy.trigger_pct"], ["market"])
    assert applied.message == "Now in effect: strategy.trigger_pct. Next start: market."
    assert wording.settings_applied([], []).message == "Now in effect: nothing changed."
    assert all(
        n.answer
        for n in (
            wording.no_position("BTC/USDT"),
            wording.nothing_to_exit(),
            wording.symbol_toggled("BTC/USDT", paused=True),
            wording.cancel_immediate("x-1"),
            wording.not_a_replay(),
        )
    )


def test_engine_lines() -> None:
    assert wording.started_line("PAPER", "simulated", 20, Settings()) == (
        "engine started: paper trading on simulated data, 20 symbols, budget 1000 USDT, "
        "stake 100, trigger 2.00% below the hybrid anchor"
    )
    assert wording.balance_lines("USDT", D(5000), D(1000)) == [
        (logging.INFO, "exchange balance: 5000 USDT free; trading budget 1000")
    ]
    low = wording.balance_lines("USDT", D(500), D(1000))
    assert low[1][0] == logging.WARNING and "below budget.initial (1000)" in low[1][1]
    assert wording.holding_mismatch("BTC", D(0), D("0.5")) == (
        "holding 0 BTC here, 0.5 on the exchange"
    )
    assert wording.quote_mismatch("USDT", D("-100.07"), D("-99.5")) == (
        "USDT since the journal began: -100.07 here, -99.5 on the exchange"
    )
    assert wording.quote_accepted("USDT", D("-100"), D("400")) == (
        "the exchange's USDT balance accepted (+500 USDT deposited or withdrawn outside the bot)"
    )


def test_a_stop_says_which_positions_stay_open_and_that_their_exits_stop() -> None:
    assert wording.left_open([], live=False) == ""
    one = wording.left_open([("SUI/USDT", D("104.9"))], live=False)
    assert one == (
        "stopped with 1 open position (SUI/USDT 104.9): it stays in the paper journal, and "
        "its exits (stop-loss, take-profit, trailing stop, max hold) do not run until the "
        "bot starts again"
    )
    two = wording.left_open([("BTC/USDT", D("0.0012")), ("ETH/USDT", D("0.04"))], live=True)
    assert two == (
        "stopped with 2 open positions (BTC/USDT 0.0012, ETH/USDT 0.04): they stay on the "
        "exchange account, and their exits (stop-loss, take-profit, trailing stop, max hold) "
        "do not run until the bot starts again"
    )


def test_a_stop_says_which_positions_keep_their_exits_resting_on_the_exchange() -> None:
    held = [("BTC/USDT", D("0.0012")), ("ETH/USDT", D("0.04"))]
    both = wording.left_open(held, live=True, resting={"BTC/USDT", "ETH/USDT"})
    assert both == (
        "stopped with 2 open positions (BTC/USDT 0.0012, ETH/USDT 0.04): they stay on the "
        "exchange account; their take-profit and stop-loss rest on the exchange as order "
        "lists; the trailing stop and max hold do not run until the bot starts again"
    )
    one = wording.left_open(held, live=True, resting={"ETH/USDT"})
    assert one == (
        "stopped with 2 open positions (BTC/USDT 0.0012, ETH/USDT 0.04): they stay on the "
        "exchange account; ETH/USDT keeps take-profit and stop-loss on the exchange as order "
        "lists; every other exit does not run until the bot starts again"
    )
