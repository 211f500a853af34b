"""Exit rules, hand-computed: each reason, the priority order, and every threshold tested
at the threshold."""

import math

import pytest

from tradebot_tui.core.exits import ExitParams, ExitReason, ExitWatch

P = ExitParams(
    take_profit_pct=1.5,
    stop_loss_pct=3.0,
    trailing_activation_pct=1.0,
    trailing_distance_pct=0.5,
    max_hold_ms=4 * 3_600_000,
)


def test_stop_loss_at_exactly_three_percent_down() -> None:
    w = ExitWatch(P, 100.0, 0)
    assert w.check(1, 97.01) is None
    assert w.check(2, 97.0) is ExitReason.STOP_LOSS


def test_take_profit_at_exactly_one_and_a_half_percent_up() -> None:
    w = ExitWatch(P, 200.0, 0)
    assert w.check(1, 202.99) is None
    assert w.check(2, 203.0) is ExitReason.TAKE_PROFIT


def test_trailing_stop_arms_then_fires_half_a_percent_below_peak() -> None:
    w = ExitWatch(P, 100.0, 0)
    assert w.check(1, 100.9) is None
    assert not w.armed
    assert w.check(2, 101.2) is None  # arms at >= 101.0, peak 101.2
    assert w.armed
    assert w.trail_price == 101.2 * 0.995
    assert w.check(3, 100.71) is None  # 101.2 * 0.995 = 100.694
    assert w.check(4, 100.69) is ExitReason.TRAILING_STOP


def test_trailing_stop_not_armed_does_not_fire() -> None:
    w = ExitWatch(P, 100.0, 0)
    w.check(1, 100.9)  # peak 100.9, not armed
    assert w.check(2, 100.3) is None


def test_max_hold() -> None:
    w = ExitWatch(P, 100.0, 1000)
    assert w.check(1000 + 4 * 3_600_000 - 1, 100.0) is None
    assert w.check(1000 + 4 * 3_600_000, 100.0) is ExitReason.MAX_HOLD


def test_priority_stop_loss_before_max_hold() -> None:
    w = ExitWatch(P, 100.0, 0)
    assert w.check(10 * 3_600_000, 96.0) is ExitReason.STOP_LOSS


def test_priority_take_profit_before_trailing() -> None:
    # A wide trailing distance would fire too, but take-profit comes first.
    params = ExitParams(1.5, 3.0, 0.5, 0.1, 3_600_000)
    w = ExitWatch(params, 100.0, 0)
    assert w.check(1, 101.0) is None
    assert w.check(2, 101.6) is ExitReason.TAKE_PROFIT


def test_priority_trailing_before_max_hold() -> None:
    w = ExitWatch(P, 100.0, 0)
    w.check(1, 101.4)
    assert w.check(4 * 3_600_000, 100.8) is ExitReason.TRAILING_STOP


# -- boundaries, exactly --------------------------------------------------------------------
# Powers of two: every threshold of an entry at 256 is exact in binary floating point, so
# a price equal to the threshold is the threshold (200 x 1.015 is 202.99999999999997, and
# a test "at" it would not be at it). Entry 256: stop 128, take 320, arm 288, and once
# armed at a peak of 288 the trail is 288 x 0.875 = 252.
EXACT = ExitParams(
    take_profit_pct=25.0,
    stop_loss_pct=50.0,
    trailing_activation_pct=12.5,
    trailing_distance_pct=12.5,
    max_hold_ms=1000,
)
ENTRY = 256.0


def just_above(x: float) -> float:
    return math.nextafter(x, math.inf)


def just_below(x: float) -> float:
    return math.nextafter(x, -math.inf)


def armed_at_288() -> ExitWatch:
    w = ExitWatch(EXACT, ENTRY, 0)
    assert w.check(1, 288.0) is None and w.armed and w.peak == 288.0
    return w


def test_the_exact_thresholds_are_the_formulas() -> None:
    w = ExitWatch(EXACT, ENTRY, 0)
    assert w.armed is False and w.peak == ENTRY and w.trail_price is None
    assert (w.stop_price, w.take_price, w.arm_price, w.trail_factor) == (128.0, 320.0, 288.0, 0.875)
    assert armed_at_288().trail_price == 252.0


def test_stop_loss_fires_at_its_price_and_not_a_hair_above() -> None:
    w = ExitWatch(EXACT, ENTRY, 0)
    assert w.check(1, just_above(128.0)) is None
    assert w.check(2, 128.0) is ExitReason.STOP_LOSS


def test_take_profit_fires_at_its_price_and_not_a_hair_below() -> None:
    w = ExitWatch(EXACT, ENTRY, 0)
    assert w.check(1, just_below(320.0)) is None  # arms, but the trail is far below
    assert w.check(2, 320.0) is ExitReason.TAKE_PROFIT


def test_the_trail_arms_at_the_activation_price_and_not_a_hair_below() -> None:
    w = ExitWatch(EXACT, ENTRY, 0)
    assert w.check(1, just_below(288.0)) is None and not w.armed
    assert w.check(2, 288.0) is None and w.armed


def test_the_trailing_stop_fires_at_the_trail_and_not_a_hair_above() -> None:
    w = armed_at_288()
    assert w.check(2, just_above(252.0)) is None
    assert w.check(3, 252.0) is ExitReason.TRAILING_STOP


def test_max_hold_fires_at_its_deadline_and_not_a_millisecond_before() -> None:
    w = ExitWatch(EXACT, ENTRY, 0)
    assert w.check(999, ENTRY) is None
    assert w.check(1000, ENTRY) is ExitReason.MAX_HOLD


# -- quiet: a stretch of ticks proven to pass without an exit --------------------------------


def test_a_stretch_inside_every_threshold_is_quiet_and_moves_the_peak() -> None:
    w = ExitWatch(EXACT, ENTRY, 0)
    assert w.quiet(just_below(288.0), just_above(128.0), 999)
    assert w.peak == just_below(288.0) and not w.armed
    assert w.quiet(200.0, 150.0, 10) and w.peak == just_below(288.0)  # never lowered


@pytest.mark.parametrize(
    ("high", "low", "last_ts", "why"),
    [
        (200.0, 128.0, 10, "its low touches the stop"),
        (288.0, 200.0, 10, "its high arms the trail"),
        (250.0, 200.0, 1000, "its last tick reaches the deadline"),
    ],
)
def test_a_stretch_touching_a_threshold_is_not_quiet(
    high: float, low: float, last_ts: int, why: str
) -> None:
    w = ExitWatch(EXACT, ENTRY, 0)
    assert not w.quiet(high, low, last_ts), why
    assert w.peak == ENTRY  # nothing applied: the ticks are checked one by one


def test_an_armed_stretch_is_quiet_only_above_the_trail_and_below_the_take() -> None:
    w = armed_at_288()
    assert not w.quiet(300.0, 252.0, 10)  # its low touches the trail of the peak 288
    assert not w.quiet(320.0, 290.0, 10)  # its high takes profit
    assert w.quiet(just_below(320.0), 290.0, 10)  # the trail of that peak is 279.99...
    assert w.peak == just_below(320.0)
    # A higher peak inside the stretch raises its trail: a low under that trail is not quiet.
    w = armed_at_288()
    assert not w.quiet(310.0, 271.25, 10)  # 310 x 0.875 = 271.25
