"""Market data from real exchanges: ccxt REST polling and Binance websocket streams.

Both load the exchange's markets and choose the universe through the shared
`ExchangeClient` (weight budget, breaker, retries), refresh the universe at an interval,
keep the latest bid/ask in a `QuoteBook` for the paper broker, and send ticks to the
engine. A malformed or unexpected message is counted and logged, never fatal.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import trio

from tradebot_tui.core.errors import cause_text, leaf_errors
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.ticks import Tick, candle_to_ticks
from tradebot_tui.exchange import wsclient
from tradebot_tui.exchange.base import QuoteBook, TickBatch
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


class ServerShutdown(ReconnectNow):
    """Binance's `serverShutdown` event: the server closes soon; connect again now."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; reconnecting now")


class StreamChange(ReconnectNow):
    """The universe crossed AUTO_BOOK_LIMIT: connect again on the other stream."""


class _ExchangeFeed:
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

        Candles become ticks as in replay (DESIGN.md section 4); only ticks before now are
        sent, and they warm anchors only: history never trades.
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


class CcxtPollingSource(_ExchangeFeed):
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
        super().__init__(client, rule, quotes, refresh_s=refresh_s, clock_ms=clock_ms)
        self.interval_s = interval_s
        self.warmup_s = warmup_s  # seconds of 1m candles fetched to warm the anchors
        self.name = f"{client.name} REST"

    async def run(
        self,
        send: trio.MemorySendChannel[TickBatch],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.load_universe()
        self.state = "live"
        task_status.started()
        await self.backfill(send, self.warmup_s)
        next_refresh = trio.current_time() + self.refresh_s
        while True:
            if trio.current_time() >= next_refresh:
                next_refresh = trio.current_time() + self.refresh_s
                try:
                    await self.load_universe()
                except CircuitOpen:
                    pass
                except Exception as exc:
                    log.warning("universe refresh failed, keeping the current one: %s", exc)
            await self.backfill(send, self.warmup_s)
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


# Streams a websocket source can read. "auto" takes per-symbol bookTicker streams for a
# universe of up to AUTO_BOOK_LIMIT coins and the one all-market mini-ticker array for
# more: hundreds of bookTicker streams send tens of thousands of messages a second,
# while the array is one message a second whatever the universe.
STREAMS = ("auto", "bookTicker", "miniTicker", "allMiniTickers")
AUTO_BOOK_LIMIT = 40
ALL_MINI_TICKERS = "!miniTicker@arr"


class BinanceWebsocketSource(_ExchangeFeed):
    """Binance combined streams (bookTicker, miniTicker or the all-market mini-ticker
    array, chosen by universe size when `stream` is "auto") over `wsclient`."""

    def __init__(
        self,
        client: ExchangeClient,
        rule: UniverseRule,
        quotes: QuoteBook | None = None,
        *,
        ws_url: str = "wss://stream.binance.com:9443",
        stream: str = "bookTicker",
        refresh_s: float = 3600.0,
        ping_s: float = 20.0,
        ping_timeout_s: float = 10.0,
        silence_s: float = 30.0,
        max_backoff_s: float = 30.0,
        clock_ms: Callable[[], int] = wall_ms,
        rng: random.Random | None = None,
        warmup_s: int = 0,
    ) -> None:
        super().__init__(client, rule, quotes, refresh_s=refresh_s, clock_ms=clock_ms)
        self.warmup_s = warmup_s  # seconds of 1m candles fetched to warm the anchors
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {', '.join(STREAMS)}, not {stream!r}")
        self.ws_url = ws_url.rstrip("/")
        self.stream = stream  # as configured ("auto" included)
        self.ping_s = ping_s
        self.ping_timeout_s = ping_timeout_s
        self.silence_s = silence_s
        self.max_backoff_s = max_backoff_s
        self.rng = rng or random.Random()
        self.connects = 0
        self.reconnects = 0
        self.name = f"{client.name} websocket"
        self._universe_changed = trio.Event()
        self._next_id = 1
        self.conflated_batches = 0  # times the engine was behind and ticks were conflated

    @property
    def active_stream(self) -> str:
        """The stream read for the current universe: never "auto"."""
        if self.stream != "auto":
            return self.stream
        return "bookTicker" if len(self._markets) <= AUTO_BOOK_LIMIT else "allMiniTickers"

    def streams(self) -> list[str]:
        stream = self.active_stream
        if stream == "allMiniTickers":
            return [ALL_MINI_TICKERS]
        return [f"{self.ids[s].lower()}@{stream}" for s in self._markets]

    def url(self) -> str:
        return f"{self.ws_url}/stream?streams={'/'.join(self.streams())}"

    def stream_text(self) -> str:
        """The stream read, in a few words (the header, the log)."""
        if self.active_stream == "allMiniTickers":
            return "all-market miniTicker"
        return f"{self.active_stream} ×{len(self._markets)}"

    def health(self) -> str:
        return f"{super().health()} · {self.stream_text()}"

    async def run(
        self,
        send: trio.MemorySendChannel[TickBatch],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.load_universe()
        task_status.started()
        await self.backfill(send, self.warmup_s)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._refresher, send)
            await self._connection_loop(send)

    def _fed_changed(self) -> None:
        self._universe_changed.set()

    async def _refresher(self, send: trio.MemorySendChannel[TickBatch]) -> None:
        while True:
            await trio.sleep(self.refresh_s)
            try:
                await self.load_universe()
            except CircuitOpen:
                pass
            except Exception as exc:
                log.warning("universe refresh failed, keeping the current one: %s", exc)
            await self.backfill(send, self.warmup_s)

    async def _connection_loop(self, send: trio.MemorySendChannel[TickBatch]) -> None:
        attempt = 0
        while True:
            self.state = "connecting" if not self.connects else "reconnecting"
            try:
                with trio.fail_after(CONNECT_TIMEOUT_S):
                    ws = await wsclient.connect(self.url())
                try:
                    self.connects += 1
                    attempt = 0
                    self.state = "live"
                    log.info("%s connected: %s", self.name, self.stream_text())
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._heartbeat, ws)
                        nursery.start_soon(self._resubscriber, ws)
                        await self._reader(ws, send)
                        nursery.cancel_scope.cancel()
                finally:
                    await ws.aclose()
            except trio.Cancelled:
                raise
            except Exception as exc:  # connection errors of every kind: reconnect
                self.reconnects += 1
                why = leaf_errors(exc)
                if all(isinstance(e, ReconnectNow) for e in why):
                    log.info("%s: %s", self.name, why[0])
                    self.state = "reconnecting"
                    continue
                log.warning("%s lost: %s; reconnecting", self.name, cause_text(exc))
            self.state = "reconnecting"
            delay = backoff_s(attempt, 0.5, self.max_backoff_s, self.rng)
            attempt += 1
            await trio.sleep(delay)

    async def _reader(
        self, ws: wsclient.WebsocketClient, send: trio.MemorySendChannel[TickBatch]
    ) -> None:
        """Messages to batches: one batch holds every message one read of the socket
        completed (no waiting for more), so that a burst costs one wake-up, not one per
        message. While the engine is behind (its channel full), ticks are held and
        conflated per symbol (`Conflater`): the backlog stays one batch, whatever the
        rate."""
        handle = self.handle
        held = Conflater()
        while True:
            if held:
                try:
                    send.send_nowait(held.batch())
                    held = Conflater()
                except trio.WouldBlock:
                    pass  # still behind: keep conflating
            # With ticks held, look again soon even if the socket is quiet.
            wait = self.silence_s if not held else HELD_RETRY_S
            with trio.move_on_after(wait) as quiet:
                messages = await ws.receive_batch()
            if quiet.cancelled_caught:
                if not held:
                    raise trio.TooSlowError(f"no message for {self.silence_s:g}s")
                continue
            ticks: list[Tick] = []
            for message in messages:
                handle(message, ticks)
            if not ticks:
                continue
            if held:
                held.add(ticks)
                continue
            try:
                send.send_nowait(TickBatch(ticks))
            except trio.WouldBlock:
                held.add(ticks)
                self.conflated_batches += 1

    def handle(self, message: str | bytes, ticks: list[Tick]) -> None:
        """One websocket message: its ticks are appended to `ticks` (none for answers;
        a malformed message or array entry is counted).

        Raises:
            ServerShutdown: Binance closes this connection soon: the caller reconnects.
        """
        self.messages += 1
        try:
            parsed = parse_message(message, self.by_id)
        except MalformedMessage as exc:
            self._count_malformed(str(exc), str(message)[:200])
            return
        if parsed is None:
            return
        ts = self._stamp(None)
        self.last_message_ms = ts
        if isinstance(parsed, list):  # the all-market array: the fed coins' entries
            for entry in parsed:
                if isinstance(entry, MalformedMessage):
                    self._count_malformed(str(entry), str(message)[:200])
                else:
                    ticks.append(Tick(ts, entry[0], entry[1]))
            return
        symbol, price, bid, ask, _event_ms = parsed
        if bid is not None and ask is not None:
            self.quotes.update(symbol, bid, ask, ts)
        ticks.append(Tick(ts, symbol, price))

    async def _heartbeat(self, ws: wsclient.WebsocketClient) -> None:
        while True:
            await trio.sleep(self.ping_s)
            with trio.fail_after(self.ping_timeout_s):
                await ws.ping()

    async def _resubscriber(self, ws: wsclient.WebsocketClient) -> None:
        subscribed = set(self.streams())
        kind = self.active_stream
        while True:
            await self._universe_changed.wait()
            self._universe_changed = trio.Event()
            if self.active_stream != kind:  # the universe crossed AUTO_BOOK_LIMIT
                raise StreamChange(
                    f"{len(self._markets)} coins: switching to {self.stream_text()}; "
                    "reconnecting now"
                )
            wanted = set(self.streams())
            for method, params in (
                ("UNSUBSCRIBE", sorted(subscribed - wanted)),
                ("SUBSCRIBE", sorted(wanted - subscribed)),
            ):
                if params:
                    await ws.send_text(
                        json.dumps({"method": method, "params": params, "id": self._next_id})
                    )
                    self._next_id += 1
            subscribed = wanted
            log.info("%s resubscribed: %d streams", self.name, len(wanted))


HELD_RETRY_S = 0.005  # conflated ticks are offered to the engine again this often
CONNECT_TIMEOUT_S = 10.0


class Conflater:
    """Ticks held while the engine is behind, conflated per symbol without losing what the
    strategy needs. Of each symbol's ticks since the last batch it keeps, in their order:
    the lowest, and the running high when it came (the anchor and the trigger of an entry
    at that low); the highest, and the lowest after it (a take-profit, and a trailing stop
    falling from that peak); and the last. At most five ticks a symbol, whatever the rate.
    """

    __slots__ = ("_by_symbol", "count")

    def __init__(self) -> None:
        # Per symbol, each kept as (arrival number, tick): low, high before the low,
        # high, low after the high, last.
        self._by_symbol: dict[str, list[tuple[int, Tick]]] = {}
        self.count = 0  # ticks taken in

    def __bool__(self) -> bool:
        return bool(self._by_symbol)

    def add(self, ticks: Sequence[Tick]) -> None:
        by_symbol = self._by_symbol
        for tick in ticks:
            self.count += 1
            entry = (self.count, tick)
            kept = by_symbol.get(tick[1])
            if kept is None:
                by_symbol[tick[1]] = [entry, entry, entry, entry, entry]
                continue
            price = tick[2]
            if price > kept[2][1][2]:  # a new high: the fall after it starts here
                kept[2] = kept[3] = entry
            elif price < kept[3][1][2]:
                kept[3] = entry
            if price < kept[0][1][2]:  # a new low, under the high seen so far
                kept[0], kept[1] = entry, kept[2]
            kept[4] = entry

    def batch(self) -> TickBatch:
        """The held ticks as one batch, in the order they arrived (each kept tick once)."""
        kept = {entry for entries in self._by_symbol.values() for entry in entries}
        return TickBatch([tick for _, tick in sorted(kept, key=lambda e: e[0])])


Parsed = tuple[str, float, float | None, float | None, int | None]


def parse_message(
    message: str | bytes, by_id: dict[str, str]
) -> Parsed | list[tuple[str, float] | MalformedMessage] | None:
    """(symbol, price, bid, ask, event ms) of a combined-stream message; None for answers.

    bookTicker gives the mid price and the quotes; miniTicker the last price. The
    all-market mini-ticker array gives a list: (symbol, last price) for each entry of a
    coin in `by_id` (the array holds the whole exchange; other coins are skipped), or the
    MalformedMessage of a bad entry.

    Raises:
        MalformedMessage: not JSON, not an object, an unknown symbol, a bad number.
        ServerShutdown: the server's `serverShutdown` event.
    """
    try:
        item = json.loads(message)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"not JSON ({exc})") from None
    if not isinstance(item, dict):
        raise MalformedMessage("not a JSON object")
    if "result" in item and "id" in item:
        return None  # the answer to a SUBSCRIBE/UNSUBSCRIBE
    data = item.get("data", item)
    if isinstance(data, list):
        return _parse_array(data, by_id)
    if not isinstance(data, dict):
        raise MalformedMessage("data is not an object")
    if data.get("e") == "serverShutdown":
        raise ServerShutdown()
    symbol = by_id.get(str(data.get("s")))
    if symbol is None:
        raise MalformedMessage(f"unknown symbol {data.get('s')!r}")
    try:
        if "b" in data and "a" in data:
            bid, ask = float(data["b"]), float(data["a"])
            if not (0 < bid <= ask):
                raise MalformedMessage(f"bad quotes bid {bid} ask {ask}")
            return symbol, (bid + ask) / 2, bid, ask, None
        if "c" in data:
            price = float(data["c"])
            if not price > 0:
                raise MalformedMessage(f"bad price {price}")
            event = data.get("E")
            return symbol, price, None, None, int(event) if event is not None else None
    except (TypeError, ValueError) as exc:
        raise MalformedMessage(f"bad number: {exc}") from None
    raise MalformedMessage("neither a bookTicker nor a miniTicker message")


def _parse_array(
    entries: list[Any], by_id: dict[str, str]
) -> list[tuple[str, float] | MalformedMessage]:
    out: list[tuple[str, float] | MalformedMessage] = []
    for entry in entries:
        if not isinstance(entry, dict):
            out.append(MalformedMessage("array entry is not an object"))
            continue
        symbol = by_id.get(str(entry.get("s")))
        if symbol is None:
            continue  # a coin outside the universe
        try:
            price = float(entry["c"])
        except (KeyError, TypeError, ValueError) as exc:
            out.append(MalformedMessage(f"{symbol}: bad or missing last price ({exc!r})"))
            continue
        if not price > 0:
            out.append(MalformedMessage(f"{symbol}: bad price {price}"))
            continue
        out.append((symbol, price))
    return out
