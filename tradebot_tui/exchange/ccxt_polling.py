"""Market data by ccxt REST polling: batched `fetch_tickers` of the universe, any venue."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from tradebot_tui.core.ticks import Tick
from tradebot_tui.exchange.base import QuoteBook, TickBatch
from tradebot_tui.exchange.client import CircuitOpen, ExchangeClient
from tradebot_tui.exchange.feed import ExchangeFeed, wall_ms
from tradebot_tui.exchange.resilience import Priority
from tradebot_tui.exchange.universe import UniverseRule

log = logging.getLogger("tradebot.feed")


class CcxtPollingSource(ExchangeFeed):
    """Batched `fetch_tickers` of the universe every `interval_s`."""

    name = "ccxt"

    def __init__(
        self,
        client: ExchangeClient,
        rule: UniverseRule,
        quotes: QuoteBook | None = None,
        *,
        interval_s: float = 2.0,
        refresh_s: float = 3600.0,
        clock_ms: Callable[[], int] = wall_ms,
        warmup_s: int = 0,
    ) -> None:
        super().__init__(
            client, rule, quotes, refresh_s=refresh_s, clock_ms=clock_ms, warmup_s=warmup_s
        )
        self.interval_s = interval_s
        self.name = f"{client.name} REST"

    async def feed(self, send: trio.MemorySendChannel[TickBatch]) -> None:
        """Poll every fed symbol's ticker every `interval_s`."""
        while True:
            try:
                tickers = await self.client.call(
                    "fetch_tickers", list(self._markets), priority=Priority.MARKET_DATA
                )
            except CircuitOpen as exc:
                self.state = "paused (circuit open)"
                await trio.sleep(max(exc.retry_in_s, self.interval_s))
                continue
            except trio.Cancelled:
                raise
            except Exception as exc:
                self.state = "error"
                log.warning("polling %s failed: %s", self.client.name, exc)
                await trio.sleep(self.interval_s)
                continue
            self.state = "live"
            ticks = self.ticks_from(tickers)
            if ticks:
                await send.send(TickBatch(ticks))
            await trio.sleep(self.interval_s)

    def ticks_from(self, tickers: Any) -> list[Tick]:
        if not isinstance(tickers, dict):
            self._count_malformed("tickers is not a mapping", repr(tickers))
            return []
        ts = self._stamp(None)
        self.last_message_ms = ts
        ticks = []
        for symbol in self._markets:
            ticker = tickers.get(symbol)
            if ticker is None:
                continue
            self.messages += 1
            try:
                bid, ask = ticker.get("bid"), ticker.get("ask")
                last = ticker.get("last")
                price = float(last) if last is not None else (float(bid) + float(ask)) / 2
                if not price > 0:
                    raise ValueError(f"price {price}")
            except (TypeError, ValueError, AttributeError) as exc:
                self._count_malformed(f"{symbol}: {exc}", repr(ticker)[:200])
                continue
            if bid is not None and ask is not None:
                self.quotes.update(symbol, float(bid), float(ask), ts)
            ticks.append(Tick(ts, symbol, price))
        return ticks
