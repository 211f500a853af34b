"""The interfaces the engine talks to: market-data sources and brokers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import trio

from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.orders import BrokerEvent, OrderIntent
from tradebot_tui.core.ticks import Tick


@dataclass(frozen=True, slots=True)
class TickBatch:
    """Ticks in time order. Warm-up batches (history) feed anchors but never trade."""

    ticks: Sequence[Tick]
    warmup: bool = False


class MarketDataSource(Protocol):
    """Something that produces ticks for a set of symbols."""

    name: str

    def markets(self) -> dict[str, MarketRules]:
        """Rules of every symbol this source produces."""
        ...

    async def run(
        self,
        send: trio.MemorySendChannel[TickBatch],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Send batches until cancelled; call `task_status.started()` once ready."""
        ...


class Broker(Protocol):
    """Something that executes orders."""

    name: str

    async def submit(self, intent: OrderIntent) -> list[BrokerEvent]:
        """Place an order; return the fills and closure known so far."""
        ...
