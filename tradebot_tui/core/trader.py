"""The trader: one quote currency's strategy, positions and protections, as one object.

A thin facade over the parts, each a job of its own: `signals` (what a tick means),
`gate` (the pauses that stop entries), `ids` (client order ids), `positions` (books
and fill accounting), `dust`, `protections` and the kill switch's level, and
`restorer` (faults and the journal's orders). Replay, paper and live trading drive the
same object: `on_tick` for each price tick, `on_fill` and `on_closed` for what the
broker reports, `fault` and `recover` when something cannot be explained. It never does
I/O and never reads a clock: the engine sets `now_ms` when it has one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from decimal import Decimal

from tradebot_tui.core import sweep
from tradebot_tui.core.book import SymbolBook, Trade
from tradebot_tui.core.bracket import Bracket, ListState
from tradebot_tui.core.dust import DustBin
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import EntryGate
from tradebot_tui.core.identity import OrderIds
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.orders import Fill, OrderClosed, OrderIntent, OutcomeUnknown, Unexplained
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.positions import Positions
from tradebot_tui.core.protections import KillSwitchLevel, Protections
from tradebot_tui.core.restore import Restorer
from tradebot_tui.core.signals import Signals
from tradebot_tui.core.status import Status


class Trader:
    """Drop-trigger strategy, exits, protections and budget for one quote currency."""

    def __init__(
        self,
        params: StrategyParams,
        ledger: Ledger,
        rules: Callable[[str], MarketRules],
        *,
        id_prefix: str = "tb-paper-sim-",
        next_seq: int = 1,
    ) -> None:
        self.ledger = ledger
        self.gate = EntryGate()
        self.ids = OrderIds(id_prefix, next_seq)
        self.protections = Protections(ledger)
        self.kill_switch = KillSwitchLevel(ledger.initial)
        self.dust = DustBin()
        self.positions = Positions(
            ledger, rules, params, dust=self.dust, gate=self.gate, protections=self.protections
        )
        self.signals = Signals(self.positions, self.gate, self.protections, self.ids, params)
        self.restorer = Restorer(self.positions, self.ids)
        self.params = params
        self.set_params(params)
        # The hot paths, bound once: a tick costs no call through the facade.
        self.on_tick = self.signals.on_tick
        self.decide = self.signals.decide
        self.warm = self.signals.warm

    def set_params(self, params: StrategyParams) -> None:
        """Apply new settings; a new anchor mode or window restarts the anchors' warm-up.

        Open positions keep the exit thresholds they were opened with.
        """
        old = self.params
        self.params = params
        self.signals.set_params(params)
        self.protections.set_limits(params.daily_loss_limit_pct, params.max_drawdown_pct)
        positions = self.positions
        positions.params = params
        if (old.anchor, old.window_s) != (params.anchor, params.window_s):
            for book in positions.books.values():
                book.anchor = params.anchor_tracker()
                book.anchor_price = None

    # -- reading -------------------------------------------------------------------------

    @property
    def books(self) -> dict[str, SymbolBook]:
        return self.positions.books

    @property
    def open_count(self) -> int:
        """Positions, and entries that may become one (`risk.max_positions` counts them)."""
        return self.positions.open_count

    @property
    def fees_elsewhere(self) -> Decimal:
        """Commissions paid in a third asset, at their quote value."""
        return self.positions.fees_elsewhere

    @property
    def now_ms(self) -> int:
        return self.signals.now_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self.signals.now_ms = value

    @property
    def reject_above(self) -> float:
        return self.signals.reject_above

    def book(self, symbol: str) -> SymbolBook:
        return self.positions.book(symbol)

    def order_book(self, client_id: str) -> SymbolBook | None:
        return self.positions.orders.get(client_id)

    def open_orders(self) -> list[OrderIntent]:
        return self.positions.open_orders()

    def holding(self, symbol: str) -> tuple[Decimal, Decimal]:
        return self.positions.holding(symbol)

    def held_symbols(self) -> frozenset[str]:
        return self.positions.held_symbols()

    def held_positions(self) -> list[tuple[str, Decimal]]:
        """Each position held, by symbol: (symbol, amount)."""
        books = sorted(self.books.items())
        return [(s, b.position.qty) for s, b in books if b.position is not None]

    def resting(self) -> frozenset[str]:
        """Symbols whose exits rest on the exchange as an order list now (live)."""
        return frozenset(
            s for s, b in self.books.items() if b.resting and b.resting.state is ListState.RESTING
        )

    def held_or_buying(self) -> list[str]:
        return self.positions.held_or_buying()

    def in_error(self) -> list[str]:
        return self.positions.in_error()

    def equity(self) -> Decimal:
        return self.positions.equity()

    def unrealized_pnl(self) -> Decimal:
        return self.positions.unrealized_pnl()

    def status(self, symbol: str, now_ms: int) -> tuple[Status, int]:
        return self.signals.status(symbol, now_ms)

    def why_not_buy(
        self, book: SymbolBook, now_ms: int, *, deciding: bool = False
    ) -> Status | None:
        return self.signals.why_not_buy(book, now_ms, deciding=deciding)

    def protection(self, book: SymbolBook) -> Bracket | str | None:
        return self.signals.protection(book)

    def bracket(self, book: SymbolBook) -> Bracket | str | None:
        return self.signals.bracket(book)

    def stale_positions(self, now_ms: int) -> list[str]:
        return self.signals.stale_positions(now_ms)

    def due_exits(self) -> list[str]:
        return self.signals.due_exits()

    def forget(self, keep: Collection[str], now_ms: int) -> list[str]:
        """Drop the books of symbols that left the universe and hold nothing."""
        return self.positions.forget(keep, now_ms, self.signals.cooldown_ms)

    # -- acting --------------------------------------------------------------------------

    def on_rest_price(self, ts_ms: int, symbol: str, price: float) -> OrderIntent | None:
        return self.signals.on_rest_price(ts_ms, symbol, price)

    def exit_position(
        self, symbol: str, ts_ms: int, reason: ExitReason = ExitReason.MANUAL
    ) -> OrderIntent | None:
        return self.signals.exit_position(symbol, ts_ms, reason)

    def exit_all_due(self, reason: ExitReason) -> list[str]:
        return self.signals.exit_all_due(reason)

    def adopt_leg(self, symbol: str, take: bool, ts_ms: int) -> OrderIntent:
        """The exit a leg of `symbol`'s resting list made on the exchange (live)."""
        return self.signals.adopt_leg(self.books[symbol], take, ts_ms)

    def reset_drawdown(self) -> None:
        self.protections.reset_drawdown()

    def why_not_convert(self, symbol: str) -> str | None:
        """Why the dust of `symbol` cannot be converted now (None: it can)."""
        return sweep.why_not_convert(self.positions, self.gate, symbol, self.ledger.quote)

    def convert_dust(self, symbol: str, ts_ms: int) -> OrderIntent:
        """The order converting the dust of `symbol` (`why_not_convert` said it can)."""
        return sweep.convert_intent(self.positions, self.ids, symbol, ts_ms)

    # -- broker reports ------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        self.positions.on_fill(fill)

    def on_closed(self, closed: OrderClosed) -> Trade | None:
        return self.positions.on_closed(closed)

    def on_unknown(self, event: OutcomeUnknown) -> None:
        self.positions.on_unknown(event)

    def on_unexplained(self, event: Unexplained) -> None:
        self.positions.on_unexplained(event)

    # -- faults and the journal ------------------------------------------------------------

    def restore_intent(self, intent: OrderIntent, exit_due: ExitReason | None = None) -> None:
        self.restorer.restore_intent(intent, exit_due)

    def fault(self, symbol: str, message: str) -> None:
        self.restorer.fault(symbol, message)

    def recover(self, symbol: str) -> list[str]:
        return self.restorer.recover(symbol)
