"""What every exchange feed shares: its markets and universe, the held coins kept in it,
the quotes the paper broker fills at, warm-up history, and message accounting.

The venue's own sources build on `ExchangeFeed` (`ccxt_polling`, `binance_ws`). A
malformed or unexpected message is counted and logged, never fatal.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.ticks import Tick, candle_to_ticks
from tradebot_tui.exchange.base import QuoteBook, SideLoop, TickBatch
from tradebot_tui.exchange.ccxt_markets import market_rules
from tradebot_tui.exchange.client import CircuitOpen, ExchangeClient
from tradebot_tui.exchange.reports import parse_price
from tradebot_tui.exchange.resilience import Priority, backoff_s
from tradebot_tui.exchange.universe import UniverseRule, select

log = logging.getLogger("tradebot.feed")


def wall_ms() -> int:
    return int(time.time() * 1000)


class MalformedMessage(ValueError):
    """A market-data message that cannot be turned into a tick."""


class ReconnectNow(Exception):
    """The connection must be made again at once (no back-off); the message says why."""


class ExchangeFeed:
    """Markets, universe, quotes and message accounting shared by the live sources."""

    name = "exchange"

    def __init__(
        self,
        client: ExchangeClient,
        rule: UniverseRule,
        quotes: QuoteBook | None = None,
        *,
        refresh_s: float = 3600.0,
        clock_ms: Callable[[], int] = wall_ms,
        warmup_s: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.rule = rule
        self.quotes = quotes if quotes is not None else QuoteBook()
        self.refresh_s = refresh_s
        self.clock_ms = clock_ms
        self._markets: dict[str, MarketRules] = {}
        self._raw: dict[str, Any] = {}  # every market the exchange lists, as ccxt has it
        self._selected: list[str] = []  # what the universe rule chose
        self._selected_set: set[str] = set()
        self._rules_cache: dict[str, MarketRules] = {}  # market_rules of _raw, by symbol
        self._held: frozenset[str] = frozenset()
        self._held_now: Callable[[], frozenset[str]] | None = None
        self.added: list[str] = []  # fed symbols whose history is not sent yet
        self.by_id: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.messages = 0
        self.malformed = 0
        self.last_message_ms = 0
        self.state = "starting"
        self.warmup_s = warmup_s  # seconds of 1m candles fetched to warm the anchors
        self.rng = rng or random.Random()  # the jitter of every back-off
        self.connect_first_s = 2.0  # the first wait before asking a silent venue again
        self.connect_cap_s = 60.0
        self._last_ts = 0

    def markets(self) -> dict[str, MarketRules]:
        return self._markets

    def health(self) -> str:
        if self.state != "live" or not self.last_message_ms:
            return self.state
        age_s = (self.clock_ms() - self.last_message_ms) / 1000
        return "live" if age_s < 10 else f"stale {age_s:.0f}s"

    def hold(self, symbols: frozenset[str]) -> None:
        """Keep these symbols in the feed whatever the universe says: the bot holds them
        (a position, dust, an order). A universe refresh drops only what holds nothing."""
        if symbols != self._held:
            outside = self._outside(self._held)
            self._held = symbols
            # Held coins inside the universe are fed anyway: only a change of those
            # outside it changes the feed (a trade a second must not rebuild 500 markets).
            if self._raw and self._outside(symbols) != outside:
                self._rebuild()

    def _outside(self, held: frozenset[str]) -> set[str]:
        selected = self._selected_set
        return {s for s in held if s in self._raw and s not in selected}

    def follow_held(self, held: Callable[[], frozenset[str]]) -> None:
        """Ask `held` for what is held at every rebuild of the fed symbols."""
        self._held_now = held

    def outside_universe(self) -> frozenset[str]:
        """Held symbols fed only because they are held."""
        return frozenset(s for s in self._markets if s not in self._selected)

    async def price_now(self, symbol: str) -> float:
        """The last price of `symbol` by REST, at exit priority (a held coin gone quiet).

        Raises:
            Exception: the exchange's error, or a ticker without a usable price.
        """
        ticker = await self.client.call("fetch_ticker", symbol, priority=Priority.EXIT)
        return float(parse_price(ticker, symbol))

    # What the header says between the venue's first answer and the first ticks.
    state_after_connect = "live"

    async def run(
        self,
        send: trio.MemorySendChannel[TickBatch],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Reach the venue (as long as that takes), warm the anchors, then feed ticks."""
        await self.connect()
        self.state = self.state_after_connect
        task_status.started()
        await self.backfill(send, self.warmup_s)
        await self.feed(send)

    async def feed(self, send: trio.MemorySendChannel[TickBatch]) -> None:
        """The venue's own way of sending ticks, until cancelled."""
        raise NotImplementedError

    async def connect(self) -> None:
        """Load the markets and the universe, however long the venue takes to answer.

        A bot started at boot, without network, or while the exchange is down for
        maintenance waits here, says so (`health`: "connecting to <venue>..."), tries
        again with back-off from `connect_first_s` up to `connect_cap_s`, and trades once
        it answers.
        """
        first_s, cap_s = self.connect_first_s, self.connect_cap_s
        attempt = 0
        venue = self.client.name
        while True:
            self.state = f"connecting to {venue}..."
            try:
                await self.load_universe()
                return
            except trio.Cancelled:
                raise
            except Exception as exc:
                wait = backoff_s(attempt, first_s, cap_s, self.rng)
                if isinstance(exc, CircuitOpen):
                    wait = max(wait, exc.retry_in_s)
                attempt += 1
                why = error_text(exc, 120)
                log.warning("%s does not answer (%s); trying again in %.0f s", venue, why, wait)
                self.state = (
                    f"connecting to {venue}... (no answer: {why[:60]}; again in {wait:.0f}s)"
                )
                await trio.sleep(wait)

    def side_loops(self, send: trio.MemorySendChannel[TickBatch]) -> list[SideLoop]:
        return [("universe refresh", partial(self.refresh_universe, send))]

    async def refresh_universe(self, send: trio.MemorySendChannel[TickBatch]) -> None:
        """Every `refresh_s`: choose the symbols again (volumes move) and warm up those
        new; an exchange that does not answer keeps the current universe."""
        while True:
            await trio.sleep(self.refresh_s)
            try:
                await self.load_universe()
            except CircuitOpen:
                pass
            except trio.Cancelled:
                raise
            except Exception as exc:
                log.warning("universe refresh failed, keeping the current one: %s", exc)
            await self.backfill(send, self.warmup_s)

    async def load_universe(self) -> bool:
        """(Re)load markets and choose the symbols; True when the fed symbols changed."""
        raw = await self.client.call("load_markets", True, priority=Priority.QUERY)
        tickers = None
        if self.rule.mode == "top_volume":
            tickers = await self.client.call("fetch_tickers", priority=Priority.MARKET_DATA)
        self._raw = dict(raw)
        self._rules_cache.clear()  # the markets were read again: their rules too
        self._selected = select(self.rule, raw, tickers)
        if not self._selected:
            log.warning("the universe is empty: no %s market matches the settings", self.rule.quote)
        return self._rebuild()

    def _rebuild(self) -> bool:
        """The fed symbols: the universe, then what is held outside it. True on a change."""
        raw = self._raw
        if self._held_now is not None:
            self._held = self._held_now()
        selected = self._selected_set = set(self._selected)
        symbols = list(self._selected)
        symbols += sorted(s for s in self._held if s in raw and s not in selected)
        cache = self._rules_cache
        new = {}
        for s in symbols:
            rules = cache.get(s)
            if rules is None:
                rules = cache[s] = market_rules(raw[s])
            new[s] = rules
        self.by_id = {str(raw[s]["id"]): s for s in symbols}
        self.ids = {s: str(raw[s]["id"]) for s in symbols}
        if list(new) == list(self._markets):
            self._markets = new if new != self._markets else self._markets
            return False
        added = [s for s in new if s not in self._markets]
        removed = [s for s in self._markets if s not in new]
        self._markets = new
        self.added = [s for s in self.added if s in new]
        self.added.extend(s for s in added if s not in self.added)
        self.quotes.keep(new)
        kept = [s for s in new if s not in self._selected]
        log.info(
            "universe: %d symbols%s%s%s",
            len(new),
            f"; added {', '.join(added)}" if added and len(added) < len(new) else "",
            f"; removed {', '.join(removed)}" if removed else "",
            f"; kept because held: {', '.join(kept)}" if kept else "",
        )
        self._fed_changed()
        return True

    def _fed_changed(self) -> None:
        """The fed symbols changed (a websocket resubscribes)."""

    async def backfill(self, send: trio.MemorySendChannel[TickBatch], seconds: int) -> None:
        """Warm the anchors of the symbols added since the last backfill (all of them at
        the start): a coin that joins the universe can be bought at once, not after
        `strategy.window_s`."""
        symbols, self.added = self.added, []
        if seconds and symbols:
            await self.warm_up(send, seconds, symbols)

    async def warm_up(
        self,
        send: trio.MemorySendChannel[TickBatch],
        seconds: int,
        symbols: list[str] | None = None,
    ) -> None:
        """Recent 1m candles as history ticks, so anchors are ready without waiting.

        Candles become ticks as in replay (docs/architecture.md, "Reference semantics");
        only ticks before now are sent, and they warm anchors only: history never trades.
        """
        now = self.clock_ms()
        since = now - (seconds + 120) * 1000
        ticks: list[Tick] = []
        for symbol in list(self._markets) if symbols is None else symbols:
            try:
                candles = await self.client.call(
                    "fetch_ohlcv",
                    symbol,
                    "1m",
                    since,
                    seconds // 60 + 3,
                    priority=Priority.MARKET_DATA,
                )
            except trio.Cancelled:
                raise
            except Exception as exc:
                log.warning("no history for %s (%s): its anchor warms up live", symbol, exc)
                continue
            for row in candles:
                try:
                    t, o, h, low, c = (int(row[0]), *map(float, row[1:5]))
                except (TypeError, ValueError, IndexError):
                    self._count_malformed(f"{symbol} candle", repr(row))
                    continue
                for ts, price in candle_to_ticks(t, 60_000, o, h, low, c):
                    if ts < now:
                        ticks.append(Tick(ts, symbol, price))
        if ticks:
            ticks.sort(key=lambda tick: tick.ts_ms)
            self._last_ts = max(self._last_ts, ticks[-1].ts_ms)
            await send.send(TickBatch(ticks, warmup=True))
            log.info("history: %d ticks warm %d anchors", len(ticks), len(self._markets))

    def _count_malformed(self, reason: str, sample: str) -> None:
        self.malformed += 1
        if self.malformed <= 5 or self.malformed % 100 == 0:
            log.warning(
                "malformed market-data message #%d ignored: %s: %.120s",
                self.malformed,
                reason,
                sample,
            )

    def _stamp(self, ts: int | None) -> int:
        """Receipt time, never earlier than the previous tick's."""
        now = ts if ts is not None else self.clock_ms()
        if now < self._last_ts:
            now = self._last_ts
        self._last_ts = now
        return now
