"""The budget ledger: reservations, fills, releases, and its identity at every step."""

from decimal import Decimal as D

import pytest

from tradebot_tui.core.ledger import InsufficientBudget, Ledger, LedgerError


def test_entry_and_exit_keep_the_identity() -> None:
    led = Ledger("USDT", D(1000))
    led.reserve("a", D("100.1"))
    led.check()
    assert led.free == D("899.9") and led.reserved == D("100.1")
    led.fill_entry("a", "BTC/USDT", D("99.99"), D("0.09999"))
    led.check()
    assert led.release("a") == D("0.01001")
    led.check()
    assert led.reserved == 0
    assert led.in_positions == D("99.99")
    led.fill_exit("BTC/USDT", D("99.99"), D("101.50"), D("0.1015"))
    led.check()
    assert led.in_positions == 0
    assert led.realized_pnl == D("1.51")
    assert led.fees_paid == D("0.20149")
    assert led.free == D(1000) + D("1.51") - D("0.20149")


def test_release_on_cancel_returns_everything() -> None:
    led = Ledger("USDT", D(500))
    led.reserve("x", D(100))
    assert led.release("x") == D(100)
    assert led.release("x") == 0
    assert led.free == D(500)
    led.check()


def test_partial_fills_and_slippage_beyond_the_reservation() -> None:
    led = Ledger("USDT", D(300))
    led.reserve("p", D(100))
    led.fill_entry("p", "ETH/USDT", D(40), D("0.04"))
    led.fill_entry("p", "ETH/USDT", D(61), D("0.061"))  # costs more than what is left
    led.check()
    assert led.reservation("p") == 0
    assert led.free == D(300) - D(101) - D("0.101")


def test_insufficient_budget_and_bad_operations_raise() -> None:
    led = Ledger("USDT", D(50))
    with pytest.raises(InsufficientBudget):
        led.reserve("big", D(51))
    led.reserve("ok", D(50))
    with pytest.raises(LedgerError):
        led.reserve("ok", D(1))
    with pytest.raises(LedgerError):
        led.fill_entry("unknown", "X/USDT", D(1), D(0))
    with pytest.raises(LedgerError):
        led.fill_exit("X/USDT", D(1), D(1), D(0))
    led.check()


def test_check_detects_tampering() -> None:
    led = Ledger("USDT", D(100))
    led.free += D("0.00000001")
    with pytest.raises(LedgerError, match="out of balance"):
        led.check()
