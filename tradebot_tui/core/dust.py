"""Dust: what is left of a coin after a sale, too small for the market to take.

It stays in the ledger at cost (nothing is lost or made by calling it dust), joins the
coin's next position at its cost (the entry price and every exit level include it), and
can be converted on the exchange (`core.sweep`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext

from tradebot_tui.core.money import EXACT


@dataclass(frozen=True, slots=True)
class Dust:
    """An amount of one symbol too small to sell, still counted in the ledger at cost."""

    qty: Decimal
    cost: Decimal


class DustBin(Mapping[str, Dust]):
    """The dust of every symbol; read as a mapping, changed only by its methods."""

    __slots__ = ("_by_symbol",)

    def __init__(self) -> None:
        self._by_symbol: dict[str, Dust] = {}

    def __getitem__(self, symbol: str) -> Dust:
        return self._by_symbol[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_symbol)

    def __len__(self) -> int:
        return len(self._by_symbol)

    def add(self, symbol: str, qty: Decimal, cost: Decimal) -> Dust:
        """New dust of `symbol` joins what was there: amounts and costs add up."""
        old = self._by_symbol.get(symbol)
        if old is not None:
            with localcontext(EXACT):
                qty, cost = qty + old.qty, cost + old.cost
        dust = self._by_symbol[symbol] = Dust(qty, cost)
        return dust

    def take(self, symbol: str) -> Dust | None:
        """Remove and return the dust of `symbol` (it joins a new position), if any."""
        return self._by_symbol.pop(symbol, None)
