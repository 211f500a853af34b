"""Conflation: ticks held while the engine is behind, kept per symbol without losing what
the strategy needs."""

from __future__ import annotations

from collections.abc import Sequence

from tradebot_tui.core.ticks import Tick
from tradebot_tui.exchange.base import TickBatch


class Conflater:
    """Ticks held while the engine is behind, conflated per symbol without losing what the
    strategy needs. Of each symbol's ticks since the last batch it keeps, in their order:
    the lowest, and the running high when it came (the anchor and the trigger of an entry
    at that low); the highest, and the lowest after it (a take-profit, and a trailing stop
    falling from that peak); and the last. At most five ticks a symbol, whatever the rate.
    """

    __slots__ = ("_by_symbol", "count")

    def __init__(self) -> None:
        # Per symbol, each kept as (arrival number, tick): low, high before the low,
        # high, low after the high, last.
        self._by_symbol: dict[str, list[tuple[int, Tick]]] = {}
        self.count = 0  # ticks taken in

    def __bool__(self) -> bool:
        return bool(self._by_symbol)

    def add(self, ticks: Sequence[Tick]) -> None:
        by_symbol = self._by_symbol
        for tick in ticks:
            self.count += 1
            entry = (self.count, tick)
            kept = by_symbol.get(tick[1])
            if kept is None:
                by_symbol[tick[1]] = [entry, entry, entry, entry, entry]
                continue
            price = tick[2]
            if price > kept[2][1][2]:  # a new high: the fall after it starts here
                kept[2] = kept[3] = entry
            elif price < kept[3][1][2]:
                kept[3] = entry
            if price < kept[0][1][2]:  # a new low, under the high seen so far
                kept[0], kept[1] = entry, kept[2]
            kept[4] = entry

    def batch(self) -> TickBatch:
        """The held ticks as one batch, in the order they arrived (each kept tick once)."""
        kept = {entry for entries in self._by_symbol.values() for entry in entries}
        return TickBatch([tick for _, tick in sorted(kept, key=lambda e: e[0])])
