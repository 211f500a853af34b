"""Exit rules, hand-computed: each reason and the priority order."""

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
