"""The numbers that arrive as data (journal rows, exchange answers, config) and how
amounts are written."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradebot_tui.core.money import (
    dec,
    divide_down,
    exact_mul,
    floor_to_step,
    fmt_decimal,
    parse_decimal,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", D("1.5")),
        (" 2.25 ", D("2.25")),
        (7, D(7)),
        (0.1, D("0.1")),  # through its shortest repr, not 0.1000000000000000055...
        (D("3.000"), D("3.000")),
        ("-4", D(-4)),
        ("1e-8", D("1e-8")),
    ],
)
def test_numbers_of_every_shape_are_read_exactly(value: object, expected: D) -> None:
    assert parse_decimal(value, "x") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "price is not a number: True"),  # a bool is an int to Python, not to us
        (None, "price is not a number: None"),
        ([1], "price is not a number: [1]"),
        ("abc", "price is not a number: 'abc'"),
        ("", "price is not a number: ''"),
        ("NaN", "price must be a finite number, got 'NaN'"),
        ("Infinity", "price must be a finite number, got 'Infinity'"),
        (float("inf"), "price must be a finite number, got inf"),
    ],
)
def test_what_is_not_a_finite_number_is_refused_by_name(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_decimal(value, "price")
    assert str(info.value) == message


def test_nonnegative_refuses_below_zero_and_takes_zero() -> None:
    assert parse_decimal("0", "fee", nonnegative=True) == 0
    assert parse_decimal("-0", "fee", nonnegative=True) == 0
    with pytest.raises(ValueError, match=r"fee must be a number >= 0, got '-0.0001'"):
        parse_decimal("-0.0001", "fee", nonnegative=True)
    assert parse_decimal("-0.0001", "pnl") == D("-0.0001")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D(0), "0"),
        (D(1), "1"),
        (D("0.000"), "0"),
        (D("1.500"), "1.5"),
        (D("100"), "100"),
        (D("1E+2"), "100"),
        (D("1E-7"), "0.0000001"),
        (D("-2.50"), "-2.5"),
        (D("123456789.123456789"), "123456789.123456789"),
    ],
)
def test_amounts_are_written_plainly_without_trailing_zeros(value: D, text: str) -> None:
    assert fmt_decimal(value) == text


def test_steps_round_down_exactly() -> None:
    assert floor_to_step(D("1.0299"), D("0.01")) == D("1.02")
    assert floor_to_step(D("1.03"), D("0.01")) == D("1.03")  # on the step: unchanged
    assert divide_down(D(100), D(3), D("0.001")) == D("33.333")
    assert dec(0.3) == D("0.3") and dec(2) == D(2) and dec("5.1") == D("5.1")


# Results with more digits than Python's default 28: the money helpers never round them.
TINY = D("0.000000000000000000000000000001")


def test_division_rounds_down_to_the_step_and_only_there() -> None:
    assert divide_down(D(2), D(3), D("0.1")) == D("0.6")  # 0.666...: down, never half up
    assert floor_to_step(D("0.69"), D("0.1")) == D("0.6")
    # 1/3 to 30 places: 0.333333333333333333333333333333 (40 digits of division precision)
    third = divide_down(D(1), D(3), TINY)
    assert third == D("0." + "3" * 30)
    assert floor_to_step(D("0." + "7" * 33), TINY) == D("0." + "7" * 30)


def test_exact_products_keep_every_digit_or_refuse() -> None:
    a = D("1.23456789012345678901234567891")  # 30 digits
    assert exact_mul(a, D(10)) == D("12.3456789012345678901234567891")
    assert exact_mul(a, D("1.1")) == D("1.358024679135802467913580246801")
