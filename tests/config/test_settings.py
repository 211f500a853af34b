"""The settings schema is the one source of every default the core uses."""

from __future__ import annotations

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.exits import ExitParams
from tradebot_tui.core.params import StrategyParams


def test_the_cores_defaults_are_the_settings_defaults() -> None:
    # StrategyParams and ExitParams keep defaults of their own (the core imports nothing
    # from config); they must be exactly what a config file of defaults gives.
    assert Settings().strategy_params() == StrategyParams()
    assert Settings().strategy_params().exits == ExitParams()


def test_the_design_defaults() -> None:
    """DESIGN.md section 4's defaults, as the schema holds them."""
    s = Settings()
    assert (s.strategy.anchor, s.strategy.window_s, s.strategy.trigger_pct) == ("hybrid", 3600, 2)
    assert (s.budget.stake, s.budget.initial, s.risk.max_positions) == (100, 1000, 5)
    assert (s.risk.cooldown_s, s.exits.take_profit_pct, s.exits.stop_loss_pct) == (900, 1.5, 3)
    assert (s.exits.trailing_activation_pct, s.exits.trailing_distance_pct) == (1, 0.5)
    assert (s.exits.max_hold_s, s.exchange.fee_pct) == (4 * 3600, 0.1)
