"""Exit rules: stop-loss, take-profit, trailing stop and max hold (docs/architecture.md,
"Reference semantics")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ExitReason(StrEnum):
    """Why a position was closed; the values are the `exit_reason` column of trade files."""

    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"
    MAX_HOLD = "max_hold"
    MANUAL = "manual"
    KILL_SWITCH = "kill_switch"  # everything sold: equity fell to the kill switch's floor
    # The price fell through the resting stop leg's limit (`exits.on_exchange`): sold at
    # market, as freqtrade names it.
    EMERGENCY_EXIT = "emergency_exit"
    # Dust (below the market's minimum) converted to BNB on the exchange (`core.sweep`).
    DUST_CONVERTED = "dust_converted"


@dataclass(frozen=True, slots=True)
class ExitParams:
    """Exit settings in the units the rules use."""

    take_profit_pct: float = 1.5
    stop_loss_pct: float = 3.0
    trailing_activation_pct: float = 1.0
    trailing_distance_pct: float = 0.5
    max_hold_ms: int = 4 * 3_600_000
    # Take-profit and stop-loss rest on the exchange as an order list (`core.bracket`).
    on_exchange: bool = False
    stop_limit_gap_pct: float = 1.0  # the stop leg's limit, this far below its stop price


class ExitWatch:
    """Exit thresholds of one open position, and the peak the trailing stop follows.

    Prices are floats: thresholds are computed once from the entry price exactly as the
    reference formulas write them, so a comparison here equals the reference comparison.
    """

    __slots__ = (
        "arm_price",
        "armed",
        "deadline_ms",
        "peak",
        "stop_price",
        "take_price",
        "trail_factor",
    )

    def __init__(self, params: ExitParams, entry_price: float, entry_ts_ms: int) -> None:
        self.stop_price = entry_price * (1 - params.stop_loss_pct / 100)
        self.take_price = entry_price * (1 + params.take_profit_pct / 100)
        self.arm_price = entry_price * (1 + params.trailing_activation_pct / 100)
        self.trail_factor = 1 - params.trailing_distance_pct / 100
        self.deadline_ms = entry_ts_ms + params.max_hold_ms
        self.peak = entry_price
        self.armed = False

    def check(self, ts_ms: int, price: float) -> ExitReason | None:
        """The first exit rule that matches this tick, in priority order, or None."""
        if price > self.peak:
            self.peak = price
        if price <= self.stop_price:
            return ExitReason.STOP_LOSS
        if price >= self.take_price:
            return ExitReason.TAKE_PROFIT
        if not self.armed and price >= self.arm_price:
            self.armed = True
        if self.armed and price <= self.peak * self.trail_factor:
            return ExitReason.TRAILING_STOP
        if ts_ms >= self.deadline_ms:
            return ExitReason.MAX_HOLD
        return None

    def quiet(self, high: float, low: float, last_ts_ms: int) -> bool:
        """Whether ticks between `low` and `high`, the last at `last_ts_ms`, would all pass
        `check` without an exit; if so, apply them (the peak) as `check` would have.

        A bound, never a guess: False only means "check the ticks one by one". Used to
        skip stretches of a held coin's ticks when replaying one data set many times.
        """
        if low <= self.stop_price or high >= self.take_price or last_ts_ms >= self.deadline_ms:
            return False
        peak = high if high > self.peak else self.peak
        if self.armed:
            # Every tick's peak is at most `peak`, so its trailing price is at most this.
            if low <= peak * self.trail_factor:
                return False
        elif high >= self.arm_price:
            return False
        self.peak = peak
        return True

    def stop_level(self) -> float:
        """Where a stop resting on the exchange stands now: the stop-loss, or the trailing
        stop once armed and above it (the stop leg follows the trailing stop up)."""
        if self.armed:
            trail = self.peak * self.trail_factor
            if trail > self.stop_price:
                return trail
        return self.stop_price

    @property
    def trail_price(self) -> float | None:
        """Where the trailing stop would fire now, once armed."""
        return self.peak * self.trail_factor if self.armed else None
