"""The interfaces the engine talks to: market-data sources and brokers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

import trio

from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.orders import BrokerEvent, Fill, OrderIntent
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


class Quote(NamedTuple):
    """Best bid and ask of a symbol, and when they were seen (ms)."""

    bid: float
    ask: float
    ts_ms: int


class QuoteBook:
    """Latest bid/ask per symbol, written by market-data sources, read by paper brokers."""

    def __init__(self) -> None:
        self.quotes: dict[str, Quote] = {}

    def update(self, symbol: str, bid: float, ask: float, ts_ms: int) -> None:
        if 0 < bid <= ask:
            self.quotes[symbol] = Quote(bid, ask, ts_ms)

    def get(self, symbol: str) -> Quote | None:
        return self.quotes.get(symbol)


Emit = Callable[[BrokerEvent], None]


class Broker(Protocol):
    """Something that executes orders.

    A broker with `immediate = True` fills synchronously: `execute(intent)` returns every
    event at once (the simulator's paper broker, replay). Any other broker is followed:
    `follow(intent, emit)` runs as its own task until the order is over, emitting fills
    and the closure as they happen; it raises only when the order's fate is unknown.
    """

    name: str
    immediate: bool

    def execute(self, intent: OrderIntent) -> list[BrokerEvent]: ...

    async def follow(self, intent: OrderIntent, emit: Emit) -> None: ...


class ExchangeBroker(Broker, Protocol):
    """A broker with an account on a real exchange: what recovery and reconciliation use."""

    async def resume(
        self, intent: OrderIntent, emit: Emit, known: list[Fill], order: dict[str, Any]
    ) -> None:
        """Follow an order found on the exchange after a restart."""
        ...

    async def lookup(self, intent: OrderIntent) -> dict[str, Any] | None:
        """The order as the exchange has it, or None if it never got there."""
        ...

    async def open_orders(self, prefix: str) -> list[dict[str, Any]]: ...

    async def price(self, symbol: str) -> Decimal: ...

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]: ...

    async def cancel(self, intent: OrderIntent) -> None: ...
