"""Immutable views of the engine's state, published to the UI at a bounded rate."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from tradebot_tui.core.book import Trade
from tradebot_tui.core.orders import OrderStatus, Purpose, Side
from tradebot_tui.engine.history import Bar
from tradebot_tui.engine.watch import RunState, WatchRow  # their home; still named here


@dataclass(frozen=True, slots=True)
class PositionRow:
    """One open position."""

    symbol: str
    qty: Decimal
    entry_price: Decimal
    entry_ts_ms: int
    last: float
    cost: Decimal
    value: Decimal
    pnl: Decimal
    pnl_pct: float
    held_ms: int
    stop_price: float | None
    take_price: float | None
    trail_price: float | None
    decimals: int
    outside: bool = False  # held outside the universe
    # Where the exits live: "" (in the bot: `exits.on_exchange` off), else the order list's
    # state in words; `protected` is False when on_exchange is on and nothing rests.
    protection: str = ""
    protected: bool = True


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One order placed by the bot, newest first in the snapshot."""

    client_id: str
    ts_ms: int
    symbol: str
    side: Side
    purpose: Purpose
    qty: Decimal
    price: Decimal
    status: OrderStatus
    filled: Decimal
    avg_price: Decimal | None
    fee: Decimal
    reason: str
    decimals: int
    outside: bool = False  # of a symbol held outside the universe


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the trader should see at once: a fill, an exit, a command's result."""

    seq: int
    ts_ms: int
    title: str
    message: str
    severity: str = "information"  # or "warning", "error"
    # The answer to something the trader just did: always shown, never summed up.
    answer: bool = False
    event: str = ""  # the kind of notification it made, if any


@dataclass(frozen=True, slots=True)
class FocusChart:
    """Price history of the focused symbol with what the strategy sees."""

    symbol: str
    bars: tuple[Bar, ...]
    anchor: float | None
    trigger_price: float | None
    decimals: int
    # Open position, if any: entry time and price.
    entry: tuple[int, float] | None


@dataclass(frozen=True, slots=True)
class ReplayStatus:
    """Where a replay in the app stands."""

    speed: float
    paused: bool
    done: bool
    progress: float  # 0..1 of the data's time span
    first_ts_ms: int
    last_ts_ms: int


class TallyRow(NamedTuple):
    """Closed trades of one UTC day or one coin."""

    key: str  # the day (2026-12-01) or the symbol
    trades: int
    wins: int
    pnl: Decimal
    fees: Decimal


@dataclass(frozen=True, slots=True)
class TradeHistory:
    """Closed trades since the journal began, summed per day and per coin."""

    days: tuple[TallyRow, ...]  # oldest first
    coins: tuple[TallyRow, ...]  # best first
    total: TallyRow


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """Everything the screens show, at one instant of engine time."""

    seq: int
    ts_ms: int
    mode: str
    state: RunState
    source: str
    quote: str
    initial: Decimal
    equity: Decimal
    free: Decimal
    reserved: Decimal
    in_positions: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    open_positions: int
    max_positions: int
    trigger_pct: float
    ticks: int
    trades: int
    wins: int
    watch: tuple[WatchRow, ...]
    positions: tuple[PositionRow, ...]
    orders: tuple[OrderRow, ...]
    log_seq: int
    # Exchange health: "" when not applicable (the simulator), else a short text each.
    feed: str = ""
    circuit: str = ""
    pnl_today: Decimal = Decimal(0)
    equity_curve: tuple[tuple[int, float], ...] = ()
    recent_trades: tuple[Trade, ...] = ()  # newest first
    notices: tuple[Notice, ...] = ()
    focus: FocusChart | None = None
    replay: ReplayStatus | None = None
    paused_symbols: frozenset[str] = frozenset()
    # Side jobs failing right now (recorder, log file, journal): trading goes on.
    problems: tuple[str, ...] = ()
    # Away from the terminal: "notify", "metrics :9464", both, or "" (none set up).
    away: str = ""
    # The quote balance disagrees with the ledger (both figures): no entries anywhere.
    quote_drift: str | None = None
    history: TradeHistory | None = None
    # The dust the bot holds, in a few words ("" if none): `d` converts it.
    dust: str = ""

    @property
    def net_pnl(self) -> Decimal:
        """The ledger's realized result after every fee paid: the closed trades, plus the
        fees and partial sales of positions still open."""
        return self.realized_pnl - self.fees_paid

    def realized_parts(self) -> tuple[Decimal, Decimal, Decimal]:
        """(closed trades' PnL, their fees, what the ledger booked on positions still open).

        The first two are the history's figures; the third is the entry fees (and any
        partial sale) of the open positions, so that closed + open == `net_pnl` and no
        screen shows a realized figure that disagrees with another.
        """
        if self.history is None:
            return self.net_pnl, self.fees_paid, Decimal(0)
        total = self.history.total
        return total.pnl, total.fees, self.net_pnl - total.pnl

    @property
    def total_pnl(self) -> Decimal:
        """Equity against the starting budget: closed and open positions, after fees."""
        return self.equity - self.initial
