"""The trader's settings, in its own units (config.settings makes them from the file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tradebot_tui.core.anchors import AnchorMode, AnchorTracker
from tradebot_tui.core.exits import ExitParams


@dataclass(frozen=True, slots=True)
class StrategyParams:
    """Everything the trader needs to decide, in its own units."""

    anchor: AnchorMode = AnchorMode.HYBRID
    window_s: int = 3600
    trigger_pct: float = 2.0
    stake: Decimal = Decimal(100)
    max_positions: int = 5
    cooldown_s: int = 900
    fee_rate: Decimal = Decimal("0.001")
    exits: ExitParams = field(default_factory=ExitParams)
    # Protections; 0 turns each off.
    daily_loss_limit_pct: float = 0.0
    max_drawdown_pct: float = 0.0
    stale_after_s: int = 60

    def anchor_tracker(self) -> AnchorTracker:
        """A new anchor of the mode and window these settings ask for."""
        return AnchorTracker(self.anchor, self.window_s * 1000)
