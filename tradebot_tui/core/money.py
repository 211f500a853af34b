"""Exact money arithmetic: Decimal helpers shared by the ledger, orders and reports."""

from __future__ import annotations

from decimal import (
    ROUND_DOWN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

ZERO = Decimal(0)

# Every ledger operation runs in this context: any result that cannot be represented
# exactly raises instead of being rounded silently.
EXACT = Context(prec=80, traps=[Inexact, InvalidOperation, Overflow, DivisionByZero])

# Used for the few operations that are inexact by nature (stake / price), which are then
# rounded explicitly to the market's step.
DIVISION = Context(prec=40)


def dec(value: float | int | str | Decimal) -> Decimal:
    """Convert a price or amount to Decimal without binary noise.

    Floats convert through their shortest repr, so 0.1 becomes Decimal("0.1"), the number
    the data file or exchange actually wrote.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round `value` down to a whole multiple of `step` (step > 0)."""
    with localcontext(DIVISION):
        units = (value / step).to_integral_value(rounding=ROUND_DOWN)
    with localcontext(EXACT):
        return units * step


def divide_down(numerator: Decimal, denominator: Decimal, step: Decimal) -> Decimal:
    """`numerator / denominator` rounded down to a multiple of `step`."""
    with localcontext(DIVISION):
        units = (numerator / denominator / step).to_integral_value(rounding=ROUND_DOWN)
    with localcontext(EXACT):
        return units * step


def exact_mul(a: Decimal, b: Decimal) -> Decimal:
    """Multiply exactly; raises decimal.Inexact if 80 digits are not enough."""
    with localcontext(EXACT):
        return a * b


def fmt_decimal(value: Decimal) -> str:
    """Plain (non-scientific) text for a Decimal, trailing zeros removed: `1.5`, `0.00012`."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text
