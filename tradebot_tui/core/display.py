"""Human-readable numbers and durations, shared by log lines and screens."""

from __future__ import annotations

from decimal import Decimal

from tradebot_tui.core.market import MarketRules


def price_decimals(rules: MarketRules | None, price: float | None) -> int:
    """Decimals to show a price with: the market's tick, else by magnitude."""
    if rules is not None and rules.price_tick is not None:
        exponent = rules.price_tick.normalize().as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 2
    if price is None or price >= 1000:
        return 2
    if price >= 1:
        return 4
    if price >= 0.01:
        return 6
    return 8


def fmt_price(price: float | Decimal | None, decimals: int) -> str:
    """`78,123.45`; an em dash for no price."""
    if price is None:
        return "—"
    return f"{price:,.{decimals}f}"


def fmt_money(amount: Decimal | float, decimals: int = 2, *, sign: bool = False) -> str:
    """`1,002.31` (or `+2.31` with sign)."""
    return f"{amount:+,.{decimals}f}" if sign else f"{amount:,.{decimals}f}"


def fmt_qty(qty: Decimal) -> str:
    """An amount without trailing zeros: `0.00128`, `1,250`."""
    text = format(qty.normalize(), "f")
    whole, _, frac = text.partition(".")
    whole_fmt = f"{int(whole):,}" if whole.lstrip("-").isdigit() else whole
    if whole.startswith("-0"):
        whole_fmt = "-0"
    return f"{whole_fmt}.{frac}" if frac else whole_fmt


def fmt_duration(ms: int) -> str:
    """`45s`, `12m 05s`, `3h 02m`, `2d 04h`."""
    s = max(0, ms) // 1000
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h {m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d {h:02d}h"
