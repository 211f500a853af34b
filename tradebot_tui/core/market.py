"""Market rules of one symbol: quantity step, price tick and minimums."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradebot_tui.core.money import ZERO, ceil_to_step, divide_down, exact_mul, floor_to_step

REPLAY_QTY_STEP = Decimal("0.00000001")


def split_symbol(symbol: str) -> tuple[str, str]:
    """`"BTC/USDT"` -> `("BTC", "USDT")`; raises ValueError on another shape."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise ValueError(f"symbol {symbol!r} is not of the form BASE/QUOTE")
    return base, quote


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What an exchange allows for one symbol.

    Attributes:
        symbol: Unified symbol, e.g. "BTC/USDT".
        qty_step: Amounts are whole multiples of this.
        price_tick: Prices are whole multiples of this; None means no rounding.
        min_qty: Orders below this amount are not sent.
        min_notional: Orders whose amount * price is below this are not sent.
    """

    symbol: str
    qty_step: Decimal = REPLAY_QTY_STEP
    price_tick: Decimal | None = None
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO

    @property
    def base(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def quote(self) -> str:
        return split_symbol(self.symbol)[1]

    def entry_qty(self, stake: Decimal, price: Decimal) -> Decimal:
        """The amount a stake buys at `price`, rounded down to the step."""
        return divide_down(stake, price, self.qty_step)

    def round_qty(self, qty: Decimal) -> Decimal:
        """Round an amount down to the step (never sell or buy more than asked)."""
        return floor_to_step(qty, self.qty_step)

    def round_price(self, price: Decimal) -> Decimal:
        """Round a price down to the tick (no-op without a tick)."""
        if self.price_tick is None:
            return price
        return floor_to_step(price, self.price_tick)

    def round_price_up(self, price: Decimal) -> Decimal:
        """Round a price up to the tick (no-op without a tick)."""
        if self.price_tick is None:
            return price
        return ceil_to_step(price, self.price_tick)

    def below_minimum(self, qty: Decimal, price: Decimal) -> str | None:
        """Why an order of `qty` at `price` may not be sent, or None when it may."""
        if qty <= 0:
            return "amount rounds to zero"
        if qty < self.min_qty:
            return f"amount {qty} below the minimum {self.min_qty}"
        notional = exact_mul(qty, price)
        if notional < self.min_notional:
            return f"notional {notional} below the minimum {self.min_notional}"
        return None


def replay_rules(symbol: str) -> MarketRules:
    """Rules for replays without market information: step 1e-8, no price rounding."""
    return MarketRules(symbol=symbol)
