"""The budget ledger: reservations, fills, releases, and its identity at every step."""

from decimal import Decimal as D
from decimal import localcontext

import pytest

from tradebot_tui.core.ledger import InsufficientBudget, Ledger, LedgerError
from tradebot_tui.core.money import EXACT


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


# -- what each refusal says, and exactness beyond 28 digits -----------------------------------


def test_each_refusal_names_what_is_wrong() -> None:
    with pytest.raises(LedgerError) as info:
        Ledger("USDT", D(-1))
    assert str(info.value) == "initial budget must not be negative, got -1"
    led = Ledger("USDT", D(50))
    assert led.quote == "USDT"
    for amount in (D(0), D(-1)):  # zero is not a reservation either
        with pytest.raises(LedgerError) as info:
            led.reserve("z", amount)
        assert str(info.value) == f"reservation z: amount must be positive, got {amount}"
    led.reserve("a", D(20))
    with pytest.raises(LedgerError) as info:
        led.reserve("a", D(1))
    assert str(info.value) == "reservation a exists already"
    with pytest.raises(InsufficientBudget) as info:
        led.reserve("b", D(31))
    assert str(info.value) == "reservation b: 31 USDT asked, 30 free"
    with pytest.raises(LedgerError) as info:
        led.fill_entry("nope", "X/USDT", D(1), D(0))
    assert str(info.value) == "fill nope: no reservation under this id"
    led.fill_entry("a", "X/USDT", D(10), D(0))
    with pytest.raises(LedgerError) as info:
        led.fill_exit("X/USDT", D(11), D(12), D(0))
    assert str(info.value) == "exit X/USDT: basis 11 exceeds position cost 10"


def test_check_names_the_total_that_does_not_match() -> None:
    led = Ledger("USDT", D(100))
    led.reserve("a", D(10))
    led._reserved["a"] = D(9)  # a reservation changed without its total
    with pytest.raises(LedgerError) as info:
        led.check()
    assert str(info.value) == "reserved total does not match the reservations"
    led = Ledger("USDT", D(100))
    led.reserve("a", D(10))
    led.fill_entry("a", "X/USDT", D(10), D(0))
    led._positions["X/USDT"] = D(9)
    with pytest.raises(LedgerError) as info:
        led.check()
    assert str(info.value) == "position total does not match the positions"
    led = Ledger("USDT", D(100))
    led.reserve("a", D(10))
    led._reserved["a"] = D(-1)
    led._reserved_total = D(-1)
    led.free = D(101)
    with pytest.raises(LedgerError) as info:
        led.check()
    assert str(info.value) == "a reservation went negative"


# 31 significant digits: past the 28 of Python's default decimal context, which would
# round them; the ledger's own context keeps every digit (or refuses).
FINE = D("1000.000000000000000000000000001")
TICK = D("0.000000000000000000000000001")


def test_every_operation_is_exact_beyond_the_default_precision() -> None:
    # The expected figures, worked out exactly here, apart: the ledger's operations must
    # run outside this block, in whatever context the caller has (the default).
    with localcontext(EXACT):
        reserved = D(100) + TICK
        free_after_reserve = FINE - reserved
        cost, fee = D(50) + TICK, TICK
        left = reserved - cost - fee
        free_after_release = free_after_reserve + left
        basis, proceeds = D(25) + TICK, D(30) + TICK
        pnl = proceeds - basis
        equity = FINE + pnl - fee - fee
    led = Ledger("USDT", FINE)
    assert led.realized_equity() == FINE
    led.reserve("a", reserved)
    assert (led.free, led.reserved, led.equity_at_cost()) == (free_after_reserve, reserved, FINE)
    led.fill_entry("a", "X/USDT", cost, fee)
    assert (led.reservation("a"), led.in_positions, led.fees_paid) == (left, cost, fee)
    assert led.release("a") == left and led.free == free_after_release
    led.fill_exit("X/USDT", basis, proceeds, fee)
    assert led.realized_pnl == pnl and led.in_positions == D(25)
    assert led.realized_equity() == equity
    led.check()
    assert led.equity_at_cost() == equity


def test_the_reading_side() -> None:
    led = Ledger("USDT", D(100))
    assert led.reservation("none") == 0 and led.reservations() == {} and led.positions() == {}
    led.reserve("a", D(30))
    led.fill_entry("a", "X/USDT", D(20), D(1))
    assert led.reservations() == {"a": D(9)} and led.positions() == {"X/USDT": D(20)}
    led.reservations()["a"] = D(0)  # a copy: the ledger is not changed through it
    assert led.reservation("a") == D(9)
    assert led.equity_at_cost() == D(99)


def test_a_sale_of_a_coin_not_held_at_zero_basis_books_its_proceeds() -> None:
    """Coins the ledger never paid for (an airdrop swept with dust) sell at zero basis."""
    led = Ledger("USDT", D(100))
    led.fill_exit("GIFT/USDT", D(0), D(3), D("0.003"))
    assert led.realized_pnl == D(3) and led.positions() == {}
    led.check()


def test_a_buy_costing_exactly_its_reservation_empties_it() -> None:
    led = Ledger("USDT", D(100))
    led.reserve("a", D("10.01"))
    led.fill_entry("a", "X/USDT", D(10), D("0.01"))
    assert led.reservation("a") == 0 and led.free == D("89.99")


def test_check_sees_a_difference_past_the_default_precision() -> None:
    """A ledger of 31 significant digits out by the last one: the check sees it (in the
    default context both sides would round alike and agree)."""
    led = Ledger("USDT", FINE)
    with localcontext(EXACT):
        led.free = FINE + TICK  # 1000.000000000000000000000000002
    with pytest.raises(LedgerError, match="out of balance"):
        led.check()
