"""The paper broker: fills market orders at the tick price with fees, no network."""

from __future__ import annotations

from decimal import Decimal, localcontext

from tradebot_tui.core.money import EXACT
from tradebot_tui.core.orders import BrokerEvent, Fill, OrderClosed, OrderIntent, OrderStatus


class PaperBroker:
    """Fills every order completely at its reference price; fee in quote."""

    name = "paper"

    def __init__(self, fee_rate: Decimal) -> None:
        self.fee_rate = fee_rate

    def execute(self, intent: OrderIntent) -> list[BrokerEvent]:
        """Fill `intent` at once (replay uses this directly)."""
        with localcontext(EXACT):
            fee = intent.qty * intent.price * self.fee_rate
        return [
            Fill(intent.client_id, intent.qty, intent.price, fee, intent.ts_ms),
            OrderClosed(intent.client_id, OrderStatus.FILLED, intent.ts_ms),
        ]

    async def submit(self, intent: OrderIntent) -> list[BrokerEvent]:
        return self.execute(intent)
