"""Price ticks and the candle-to-tick expansion (docs/architecture.md, "Reference semantics")."""

from __future__ import annotations

from typing import NamedTuple


class Tick(NamedTuple):
    """One trade price of one symbol at one instant."""

    ts_ms: int
    symbol: str
    price: float


def candle_to_ticks(
    t_ms: int, length_ms: int, o: float, h: float, low: float, c: float
) -> tuple[tuple[int, float], tuple[int, float], tuple[int, float], tuple[int, float]]:
    """Expand one candle into four (ts_ms, price) ticks.

    `o` at t; the extreme nearer to `o` at t + T/4 (high first when h - o <= o - l,
    otherwise low first); the other extreme at t + T/2; `c` at t + T - 1 ms.
    """
    if h - o <= o - low:
        first, second = h, low
    else:
        first, second = low, h
    return (
        (t_ms, o),
        (t_ms + length_ms // 4, first),
        (t_ms + length_ms // 2, second),
        (t_ms + length_ms - 1, c),
    )
