"""`replay --tui`: the live engine over recorded data, paced for watching, paper fills."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tradebot_tui.config.settings import Settings
from tradebot_tui.engine import Engine
from tradebot_tui.engine.replay_source import ReplaySource
from tradebot_tui.exchange.paper import PaperBroker
from tradebot_tui.wiring.away import plug_away


def replay_engine(settings: Settings, source: ReplaySource) -> Callable[..., Engine]:
    """What `replay --tui` runs: the live engine with paper fills, on the data's time.

    Returns a factory taking the app's `publish` and `log_ring` keywords.
    """
    broker = PaperBroker(settings.exchange.fee_rate)

    def make(**kwargs: Any) -> Engine:
        # Engine time is the data's time: the wall clock never enters.
        engine = Engine(settings, source, broker, mode="REPLAY", clock=lambda: 0, **kwargs)
        plug_away(engine)  # alerts and the heartbeat line; nothing leaves the machine
        return engine

    return make
