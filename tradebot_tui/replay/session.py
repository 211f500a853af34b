"""A paper trading session: a fresh trader and ledger, every order filled at once at the
reference price; what one replay (or one `tune` trial) trades with."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradebot_tui.core.book import Position, Trade
from tradebot_tui.core.fills import fill_at_reference
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.market import replay_rules
from tradebot_tui.core.orders import Fill, OrderClosed, OrderIntent
from tradebot_tui.core.params import StrategyParams
from tradebot_tui.core.trader import Trader


@dataclass(slots=True)
class OpenPosition:
    """A position still open when the data ended: reported, never counted as a trade."""

    symbol: str
    entry_ts_ms: int
    entry_price: Decimal
    qty: Decimal
    entry_fees: Decimal
    last_price: float


class PaperSession:
    """A fresh trader and ledger, orders filled at the reference price: what one replay
    trades with."""

    __slots__ = ("fee_rate", "ledger", "trader", "trades")

    def __init__(self, params: StrategyParams, quote: str, initial: Decimal) -> None:
        self.ledger = Ledger(quote, initial)
        self.trader = Trader(params, self.ledger, replay_rules, id_prefix="tb-replay-sim-")
        self.fee_rate = params.fee_rate
        self.trades: list[Trade] = []

    def execute(self, intent: OrderIntent) -> None:
        """Fill `intent` at once at its price and tell the trader; a closed round trip
        joins `trades`."""
        trader = self.trader
        for event in fill_at_reference(intent, self.fee_rate):
            if isinstance(event, Fill):
                trader.on_fill(event)
            elif isinstance(event, OrderClosed):
                trade = trader.on_closed(event)
                if trade is not None:
                    self.trades.append(trade)
            else:  # a reference fill is never in doubt
                raise TypeError(f"a reference fill reported {event!r}")

    def open_positions(self) -> list[OpenPosition]:
        """What is still held, by symbol, at each symbol's last price."""
        held = []
        for symbol, book in sorted(self.trader.books.items()):
            position: Position | None = book.position
            if position is not None and position.qty > 0:
                held.append(
                    OpenPosition(
                        symbol,
                        position.entry_ts_ms,
                        position.entry_price,
                        position.qty,
                        position.entry_fees,
                        book.last_price,
                    )
                )
        return held
