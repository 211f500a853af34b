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


@pytest.mark.parametrize(
    ("cost", "fee"),
    [(D(100), D("-0.1")), (D(-1), D(0)), (D(-1), D("-0.1"))],
    ids=["negative fee", "negative cost", "both"],
)
def test_a_buy_fill_with_a_negative_amount_is_refused_and_changes_nothing(cost: D, fee: D) -> None:
    """A sign error in an exchange's report must not lower the fees or raise the free
    budget: each negative figure alone is refused."""
    led = Ledger("USDT", D(1000))
    led.reserve("a", D(101))
    with pytest.raises(LedgerError, match="negative"):
        led.fill_entry("a", "BTC/USDT", cost, fee)
    assert (led.free, led.reserved, led.fees_paid, led.in_positions) == (D(899), D(101), 0, 0)


@pytest.mark.parametrize(
    ("basis", "proceeds", "fee"),
    [(D(100), D(110), D("-0.01")), (D(100), D(-1), D(0)), (D(-1), D(110), D(0))],
    ids=["negative fee", "negative proceeds", "negative basis"],
)
def test_a_sell_fill_with_a_negative_amount_is_refused_and_changes_nothing(
    basis: D, proceeds: D, fee: D
) -> None:
    led = Ledger("USDT", D(1000))
    led.reserve("a", D(101))
    led.fill_entry("a", "BTC/USDT", D(100), D("0.1"))
    led.release("a")
    before = (led.free, led.fees_paid, led.realized_pnl, led.in_positions)
    with pytest.raises(LedgerError, match="negative"):
        led.fill_exit("BTC/USDT", basis, proceeds, fee)
    assert (led.free, led.fees_paid, led.realized_pnl, led.in_positions) == before
    led.check()


def test_zero_fees_are_fees_too() -> None:
    """Zero is not negative: a fill without a fee goes through."""
    led = Ledger("USDT", D(100))
    led.reserve("a", D(50))
    led.fill_entry("a", "BTC/USDT", D(50), D(0))
    led.fill_exit("BTC/USDT", D(50), D(0), D(0))
    led.check()
    assert led.realized_pnl == D(-50) and led.fees_paid == 0
