"""Candle-to-tick expansion (DESIGN.md section 4)."""

from tradebot_tui.core.ticks import candle_to_ticks


def test_high_first_when_high_is_nearer_to_open() -> None:
    # h - o = 1 <= o - l = 5: high at T/4, low at T/2.
    assert candle_to_ticks(0, 60_000, 100.0, 101.0, 95.0, 99.0) == (
        (0, 100.0),
        (15_000, 101.0),
        (30_000, 95.0),
        (59_999, 99.0),
    )


def test_low_first_when_low_is_nearer_to_open() -> None:
    assert candle_to_ticks(60_000, 60_000, 100.0, 106.0, 99.0, 105.0) == (
        (60_000, 100.0),
        (75_000, 99.0),
        (90_000, 106.0),
        (119_999, 105.0),
    )


def test_tie_goes_to_high_first() -> None:
    # h - o == o - l: the rule says high first.
    ticks = candle_to_ticks(0, 300_000, 10.0, 12.0, 8.0, 9.0)
    assert [p for _, p in ticks] == [10.0, 12.0, 8.0, 9.0]
    assert [t for t, _ in ticks] == [0, 75_000, 150_000, 299_999]
