"""The dust bin: what is left below the market's minimum, at its cost, until it joins a
position or is swept."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

from tradebot_tui.core.dust import Dust, DustBin
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.money import EXACT

TINY = D("0.0000000000000000000000000001")  # past the default 28 digits of 1


def test_new_dust_of_a_coin_joins_its_old_dust_amounts_and_costs_added() -> None:
    dust = DustBin()
    assert dust.add("A", D("0.004"), D("0.4")) == Dust(D("0.004"), D("0.4"))
    assert dust.add("A", D("0.003"), D("0.33")) == Dust(D("0.007"), D("0.73"))
    assert dust.add("B", D(1), D(2)) == Dust(D(1), D(2))  # another coin: its own
    assert dict(dust) == {"A": Dust(D("0.007"), D("0.73")), "B": Dust(D(1), D(2))}
    assert list(dust) == ["A", "B"] and len(dust) == 2 and "A" in dust


def test_adding_is_exact_beyond_28_digits() -> None:
    dust = DustBin()
    dust.add("A", D(1), D(1))
    dust.add("A", TINY, TINY)
    with localcontext(EXACT):
        assert dust["A"] == Dust(D(1) + TINY, D(1) + TINY)


def ledger_with_dust_cost(cost: D) -> Ledger:
    """A ledger of 100 USDT in which `cost` went into coins of A/USDT, no fee."""
    ledger = Ledger("USDT", D(100))
    ledger.reserve("b", D(10))
    ledger.fill_entry("b", "A/USDT", cost, D(0))
    ledger.release("b")
    return ledger


def test_taking_empties_the_coins_dust() -> None:
    dust = DustBin()
    dust.add("A", D(1), D(2))
    assert dust.take("A") == Dust(D(1), D(2)) and dust.take("A") is None and "A" not in dust


def test_a_sweep_sells_at_the_price_less_the_fee_and_books_the_cost() -> None:
    ledger = ledger_with_dust_cost(D(2))
    dust = DustBin()
    dust.add("A/USDT", D("0.5"), D(2))
    credited = dust.sweep("A/USDT", D(5), D("0.001"), ledger)
    assert credited == D("2.5") - D("0.0025")
    assert ledger.realized_pnl == D("0.5") and ledger.in_positions == 0 and not dust
    assert dust.sweep("A/USDT", D(5), D("0.001"), ledger) == 0  # nothing left: nothing sold
    ledger.check()


def test_a_sweep_is_exact_beyond_28_digits() -> None:
    ledger = ledger_with_dust_cost(D(1))
    dust = DustBin()
    dust.add("A/USDT", D(1), D(1))
    with localcontext(EXACT):
        price = D(1) + TINY  # 29 digits
        expected = price - price * D("0.001")
    assert dust.sweep("A/USDT", price, D("0.001"), ledger) == expected
