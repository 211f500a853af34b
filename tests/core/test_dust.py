"""The dust bin: what is left below the market's minimum, at its cost, until it joins a
position or is converted (tests/core/test_sweep.py)."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

from tradebot_tui.core.dust import Dust, DustBin
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
