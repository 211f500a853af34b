"""Exact money arithmetic: Decimal helpers shared by the ledger, orders and reports."""

from __future__ import annotations

from decimal import (
    ROUND_DOWN,
    ROUND_UP,
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


def parse_decimal(value: object, what: str, *, nonnegative: bool = False) -> Decimal:
    """The one parser of numbers that arrive as data (journal rows, exchange answers, config).

    Accepts str, int, float (through its shortest repr, as `dec`) and Decimal.

    Raises:
        ValueError: naming `what`, when the value is missing, not a number, not finite, or
            negative while `nonnegative`.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(f"{what} is not a number: {value!r}")
    try:
        number = dec(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if nonnegative and number < 0:
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
    return number


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round `value` down to a whole multiple of `step` (step > 0)."""
    with localcontext(DIVISION):
        units = (value / step).to_integral_value(rounding=ROUND_DOWN)
    with localcontext(EXACT):
        return units * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round `value` up to a whole multiple of `step` (step > 0)."""
    with localcontext(DIVISION):
        units = (value / step).to_integral_value(rounding=ROUND_UP)
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
