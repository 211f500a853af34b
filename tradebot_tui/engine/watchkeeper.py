"""Held means watched: what the bot holds keeps its prices, whatever the feed does.

Two duties (docs/architecture.md, "Held means watched"): every symbol with a position, an
order or sellable dust stays in the feed across universe refreshes; and a held coin whose
feed has gone quiet for `risk.stale_after_s` is priced by REST at exit priority, so that
its exits are evaluated without waiting for a tick.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.orders import OrderIntent
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine.context import Context
from tradebot_tui.exchange.base import PricesOnDemand, WatchesHeld

log = logging.getLogger("tradebot.engine")


class Watchkeeper:
    """Keeps the held symbols in the feed, and prices the quiet ones by REST."""

    def __init__(
        self,
        trader: Trader,
        context: Context,
        *,
        universe: WatchesHeld | None,
        prices: PricesOnDemand | None,
        execute: Callable[[OrderIntent], Awaitable[None]],
    ) -> None:
        self._trader = trader
        self._universe = universe
        self._prices = prices
        self._execute = execute
        self._now = context.now
        self._changed = context.changed
        self._held: frozenset[str] = frozenset()
        if universe is not None:
            universe.follow_held(trader.held_symbols)

    def keep_held(self) -> bool:
        """Tell the source what is held now; True when that changed what it feeds."""
        if self._universe is None:
            return False
        held = self._trader.held_symbols()
        if held == self._held:
            return False
        self._held = held
        self._universe.hold(held)
        return True

    def outside_universe(self) -> frozenset[str] | None:
        return self._universe.outside_universe() if self._universe is not None else None

    @property
    def prices_quiet_coins(self) -> bool:
        return self._prices is not None and self._trader.params.stale_after_s > 0

    async def run(self) -> None:
        """Price the held coins whose feed is quiet, every quarter of `stale_after_s`."""
        assert self._prices is not None
        while True:
            await trio.sleep(max(0.5, self._trader.params.stale_after_s / 4))
            for symbol in self._trader.stale_positions(self._now()):
                await self._price(self._prices, symbol)

    async def _price(self, prices: PricesOnDemand, symbol: str) -> None:
        try:
            price = await prices.price_now(symbol)
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.warning("%s: its feed is quiet and REST has no price: %s", symbol, error_text(exc))
            return
        log.info(
            "%s: no tick for %d s; priced by REST at %s",
            symbol,
            self._trader.params.stale_after_s,
            price,
        )
        intent = self._trader.on_rest_price(self._now(), symbol, price)
        if intent is not None:
            await self._execute(intent)
        self._changed()
