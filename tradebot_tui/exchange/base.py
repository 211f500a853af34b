"""The interfaces the engine talks to: market-data sources and brokers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:  # not imported at run time: the headless replay never needs trio (0.1 s)
    import trio

    from tradebot_tui.exchange.order_lists import OrderLists
    from tradebot_tui.exchange.user_stream import PushedOrders

from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.orders import BrokerEvent, Fill, OrderIntent
from tradebot_tui.core.ticks import Tick
from tradebot_tui.exchange.reports import Balance, ExchangeOrder


@dataclass(frozen=True, slots=True)
class TickBatch:
    """Ticks in time order. Warm-up batches (history) feed anchors but never trade."""

    ticks: Sequence[Tick]
    warmup: bool = False

    def of(self, markets: Mapping[str, object]) -> Sequence[Tick]:
        """The ticks of symbols in `markets`: a batch queued before a universe refresh can
        carry coins that left it (and hold nothing), which must not trade on guessed rules."""
        ticks = self.ticks
        if all(t[1] in markets for t in ticks):
            return ticks
        return [t for t in ticks if t[1] in markets]


SideLoop = tuple[str, Callable[[], Awaitable[None]]]  # a name and a loop run until cancelled


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
        task_status: trio.TaskStatus[None] = ...,
    ) -> None:
        """Send batches until cancelled; call `task_status.started()` once ready."""
        ...

    def side_loops(self, send: trio.MemorySendChannel[TickBatch]) -> list[SideLoop]:
        """The source's jobs off the trading path (a universe refresh), each named, run
        by the engine under its supervisor once `run` is ready: a failure of one is
        shown and retried, never the end of the feed."""
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

    def keep(self, symbols: Collection[str]) -> None:
        """Forget the quotes of every other symbol (one no longer fed)."""
        for symbol in [s for s in self.quotes if s not in symbols]:
            del self.quotes[symbol]


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


@runtime_checkable
class ExchangeBroker(Broker, Protocol):
    """A broker with an account on a real exchange: what recovery and reconciliation use.

    Everything it returns is parsed at the edge (`exchange.reports`): no ccxt dicts.
    """

    async def recover(
        self, intent: OrderIntent, emit: Emit, known: list[Fill], journaled_ms: int
    ) -> None:
        """Follow an order the journal left open at a restart (`known`: its journaled
        fills), or close it once the exchange shows it was never placed."""
        ...

    async def open_orders(self, prefix: str) -> list[ExchangeOrder]: ...

    async def price(self, symbol: str) -> Decimal: ...

    async def balances(self) -> dict[str, Balance]: ...

    async def cancel(self, intent: OrderIntent) -> None: ...

    async def recent_orders(self, symbol: str, since_ms: int | None = None) -> list[ExchangeOrder]:
        """The account's most recent orders of `symbol` (or those since `since_ms`)."""
        ...

    def market_symbol(self, base: str, quote: str) -> str | None:
        """`BASE/QUOTE` when the exchange lists that market."""
        ...


# -- optional capabilities: declared here, checked once by the engine with isinstance --------


@runtime_checkable
class ConvertsDust(Protocol):
    """A broker that converts the dust of several coins on the exchange in one request
    (Binance's allows one every few hours): each coin's order is reported on its own."""

    # Told the asset and amount each conversion credited (reconciliation's baseline).
    on_credit: Callable[[str, Decimal], None] | None

    async def convert_dust(self, intents: Sequence[OrderIntent], emit: Emit) -> None: ...


@runtime_checkable
class RestsOrderLists(Protocol):
    """A broker that can rest a position's exits on the exchange as an order list
    (`exits.on_exchange`), and whose user data stream, if any, pushes their legs."""

    @property
    def lists(self) -> OrderLists: ...

    @property
    def pushed(self) -> PushedOrders | None: ...


@runtime_checkable
class ReportsHealth(Protocol):
    """A market-data source that can say how its feed is doing ("live", "stale 12s"...)."""

    def health(self) -> str: ...


@runtime_checkable
class WatchesHeld(Protocol):
    """A source whose symbols can change (a universe): it keeps feeding what is held."""

    def hold(self, symbols: frozenset[str]) -> None:
        """Keep these symbols in the feed whatever the universe says."""
        ...

    def follow_held(self, held: Callable[[], frozenset[str]]) -> None:
        """Ask `held` for what is held at every universe refresh (a coin bought a moment
        before a refresh is never dropped)."""
        ...

    def outside_universe(self) -> frozenset[str]:
        """The held symbols fed only because they are held."""
        ...


@runtime_checkable
class PricesOnDemand(Protocol):
    """A source that can fetch one symbol's price now (REST), ahead of market data."""

    async def price_now(self, symbol: str) -> float: ...


class Connection(Protocol):
    """An exchange connection whose circuit breaker, rate limits and clock the user should
    see, and whose clock the engine keeps measured."""

    @property
    def circuit_open(self) -> bool:
        """True while the breaker holds entries and polling back."""
        ...

    def circuit_text(self) -> str:
        """The breaker, rate-limit and clock state in a few words; "" when all is well."""
        ...

    def counters(self) -> dict[str, int]:
        """For the metrics: calls, failures, retries so far, and the request weight used
        in the current minute (the exchange's figure where it gives one)."""
        ...

    async def keep_time(
        self, period_s: float = ..., *, task_status: trio.TaskStatus[None] = ...
    ) -> None:
        """Measure the exchange's clock now, then every `period_s`."""
        ...


@runtime_checkable
class OnExchange(Protocol):
    """A source or broker that talks to an exchange through a `Connection`."""

    @property
    def client(self) -> Connection: ...
