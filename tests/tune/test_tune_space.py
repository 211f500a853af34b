"""The search space, the split and the scores of `tune`."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.anchors import DAY_MS
from tradebot_tui.core.book import Trade
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.tune.space import (
    DEFAULT_SPACE,
    TuneError,
    build_space,
    make_split,
    score,
    trial_settings,
)


def trade(day: int, pnl: str) -> Trade:
    return Trade(
        "BTC/USDT",
        day * DAY_MS,
        Decimal(100),
        day * DAY_MS + 1000,
        Decimal(101),
        Decimal(1),
        ExitReason.TAKE_PROFIT,
        Decimal(pnl),
        Decimal("0.2"),
    )


def test_scores_pnl_drawdown_and_the_sharpe_of_daily_returns() -> None:
    trades = [trade(0, "10"), trade(1, "-20"), trade(3, "5")]
    s = score(trades, Decimal(1000), 0, 4 * DAY_MS - 1)
    assert (s.trades, s.pnl, s.max_drawdown) == (3, -5.0, 20.0)
    assert s.pnl_dd == -5.0 / 20.0
    returns = [10 / 1000, -20 / 1010, 0.0, 5 / 990]
    mean = sum(returns) / 4
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / 3)
    assert s.sharpe == pytest.approx(mean / sd * math.sqrt(365))
    # No trade: nothing to divide; a drawdown of nothing counts as 0.1 % of the budget.
    empty = score([], Decimal(1000), 0, DAY_MS)
    assert (empty.pnl_dd, empty.sharpe) == (0.0, 0.0)
    assert score([trade(0, "3")], Decimal(1000), 0, 0).pnl_dd == 3.0


def test_scores_sortino_calmar_and_the_profit_factor() -> None:
    trades = [trade(0, "10"), trade(1, "-20"), trade(3, "5")]
    s = score(trades, Decimal(1000), 0, 4 * DAY_MS - 1)
    returns = [10 / 1000, -20 / 1010, 0.0, 5 / 990]
    mean = sum(returns) / 4
    downside = math.sqrt((20 / 1010) ** 2 / 4)  # the one day below zero, over all four
    assert s.sortino == pytest.approx(mean / downside * math.sqrt(365))
    assert s.profit_factor == 15 / 20
    dd_pct = 20 / 1010 * 100  # from the peak of 1010
    assert s.max_drawdown_pct == pytest.approx(dd_pct)
    annual = (995 / 1000) ** (365 / 4) - 1
    assert s.calmar == pytest.approx(annual / (dd_pct / 100))
    for name in ("sortino", "calmar", "profit_factor", "pnl", "pnl_dd", "sharpe"):
        assert s.value(name) == getattr(s, name)
    # No loss, no fall: the divisors are 0.1 % of the budget, never zero.
    won = score([trade(0, "3")], Decimal(1000), 0, DAY_MS - 1)
    assert won.profit_factor == 3.0 and won.max_drawdown_pct == 0.0
    assert won.calmar == pytest.approx(((1003 / 1000) ** 365 - 1) / 0.001)
    assert won.sortino == 0.0  # one day: no deviation to speak of


def test_flags_override_the_file_and_the_default_space_applies_otherwise(tmp_path: Path) -> None:
    space = tmp_path / "space.toml"
    space.write_text("[exits]\nstop_loss_pct = [1, 8]\nmax_hold_s = [600, 86400]\n")
    knobs = {k.key: k for k in build_space(["exits.stop_loss_pct=2:3"], space)}
    assert (knobs["exits.stop_loss_pct"].low, knobs["exits.stop_loss_pct"].high) == (2, 3)
    hold = knobs["exits.max_hold_s"]
    assert hold.integer and hold.log  # 600 s to a day: searched on a log scale
    assert build_space([], None) == list(DEFAULT_SPACE)
    with pytest.raises(TuneError, match=r"exits.max_hold_s is a whole number, got 1.5:9"):
        build_space(["exits.max_hold_s=1.5:9"], None)
    space.write_text("[exits\n")
    with pytest.raises(TuneError, match=r"space.toml: not valid TOML"):
        build_space([], space)


def test_the_split_is_by_time_on_a_whole_minute_and_needs_room() -> None:
    start = 1_700_000_000_000
    split = make_split((start, start + 30 * DAY_MS), 30, 3600)
    assert split.cut % 60_000 == 0
    assert split.cut - start == pytest.approx(21 * DAY_MS, abs=60_000)
    assert split.in_sample == (None, split.cut - 1)
    with pytest.raises(TuneError, match="the out-of-sample part is"):
        make_split((start, start + 30 * DAY_MS), 1, 3600)


def test_trial_settings_are_validated_and_rounded_as_the_config_holds_them() -> None:
    s = trial_settings(Settings(), {"exits.take_profit_pct": 2.8200000000000003})
    assert s.exits.take_profit_pct == 2.82
    from tradebot_tui.config.validate import ConfigError

    with pytest.raises(ConfigError, match=r"exits\.stop_loss_pct"):
        trial_settings(Settings(), {"exits.stop_loss_pct": 120.0})


def test_walk_forward_folds_tile_the_out_of_sample_part_and_one_fold_is_the_split() -> None:
    from tradebot_tui.tune.walk_forward import fold_splits

    span = (0, 20 * DAY_MS - 1)
    [single] = fold_splits(span, 1, 30, 3600)
    assert single == make_split(span, 30, 3600)
    folds = fold_splits(span, 3, 30, 3600)
    test = folds[0].end - folds[0].cut + 1
    train = folds[0].cut - folds[0].start
    assert folds[0].start == 0 and folds[-1].end == span[1]
    for before, after in itertools.pairwise(folds):
        assert after.cut == before.end + 1  # the test parts follow each other, no gap
        assert after.start == before.start + test  # the training part rolls with them
        assert after.cut - after.start == train
    assert all(f.cut % 60_000 == 0 and f.start % 60_000 == 0 for f in folds)
    with pytest.raises(TuneError, match="too short for 8 folds: each test part"):
        fold_splits(span, 8, 30, 3600)
    with pytest.raises(TuneError, match="--folds 0"):
        fold_splits(span, 0, 30, 3600)
