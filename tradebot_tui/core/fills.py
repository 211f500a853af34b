"""The reference fill: an order filled whole, at once, at the price of the tick that made
it, the fee charged in the quote currency. Replay and paper trading on the simulated
market fill every order this way (docs/architecture.md, "Reference semantics")."""

from __future__ import annotations

from decimal import Decimal, localcontext

from tradebot_tui.core.money import EXACT
from tradebot_tui.core.orders import BrokerEvent, Fill, OrderClosed, OrderIntent, OrderStatus


def fill_at_reference(intent: OrderIntent, fee_rate: Decimal) -> list[BrokerEvent]:
    """`intent` filled completely at its price: the fill, then the closure."""
    with localcontext(EXACT):
        fee = intent.qty * intent.price * fee_rate
    return [
        Fill(intent.client_id, intent.qty, intent.price, fee, intent.ts_ms),
        OrderClosed(intent.client_id, OrderStatus.FILLED, intent.ts_ms),
    ]
