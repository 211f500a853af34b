"""What every venue's websocket market data shares: connections kept alive and made again
with back-off, messages read in batches, and ticks conflated while the engine is behind.

A venue's source (`binance_ws`, `bybit_ws`) says where to connect (one connection, or
several shards when the venue limits subscriptions per connection), what to do once
connected (subscribe), how to keep a connection alive (the venue's heartbeat), how to
follow a universe change, and what a message means (`handle`).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Awaitable, Callable

import trio

from tradebot_tui.core.errors import cause_text, leaf_errors
from tradebot_tui.core.ticks import Tick
from tradebot_tui.exchange import wsclient
from tradebot_tui.exchange.base import QuoteBook, TickBatch
from tradebot_tui.exchange.client import ExchangeClient
from tradebot_tui.exchange.conflation import Conflater
from tradebot_tui.exchange.feed import ExchangeFeed, MalformedMessage, ReconnectNow, wall_ms
from tradebot_tui.exchange.resilience import backoff_s
from tradebot_tui.exchange.universe import UniverseRule

log = logging.getLogger("tradebot.feed")

HELD_RETRY_S = 0.005  # conflated ticks are offered to the engine again this often
CONNECT_TIMEOUT_S = 10.0


# (symbol, price, bid, ask) of one price a message carries; bid and ask None without quotes
Parsed = tuple[str, float, float | None, float | None]
Send = Callable[[wsclient.WebsocketClient, str, list[str]], Awaitable[object]]


class Reshard(ReconnectNow):
    """The universe needs another number of connections: make them all again."""


class WebsocketFeed(ExchangeFeed):
    """The connection loop of a websocket source; the venue's subclass fills in the rest,
    beginning with what it is called, its address and the streams it offers."""

    VENUE = ""
    DEFAULT_URL = ""
    STREAMS: tuple[str, ...] = ()
    DEFAULT_STREAM = "auto"
    SILENCE_S = 30.0  # the venue's keep-alive comes at least this often

    def __init__(
        self,
        client: ExchangeClient,
        rule: UniverseRule,
        quotes: QuoteBook | None = None,
        *,
        ws_url: str | None = None,
        stream: str | None = None,
        refresh_s: float = 3600.0,
        silence_s: float | None = None,
        max_backoff_s: float = 30.0,
        clock_ms: Callable[[], int] = wall_ms,
        warmup_s: int = 0,
        rng: random.Random | None = None,
    ) -> None:
        """Args (beside `ExchangeFeed`'s):
        ws_url: The venue's websocket address (its `DEFAULT_URL` when None).
        stream: What is read, as configured: one of the venue's `STREAMS`.
        silence_s: A connection that says nothing this long is made again.
        max_backoff_s: Longest wait before a reconnect.

        Raises:
            ValueError: a stream the venue does not offer.
        """
        stream = self.DEFAULT_STREAM if stream is None else stream
        if stream not in self.STREAMS:
            raise ValueError(self.stream_refused(stream))
        super().__init__(
            client, rule, quotes, refresh_s=refresh_s, clock_ms=clock_ms, warmup_s=warmup_s, rng=rng
        )
        self.ws_url = (self.DEFAULT_URL if ws_url is None else ws_url).rstrip("/")
        self.stream = stream
        self.silence_s = self.SILENCE_S if silence_s is None else silence_s
        self.max_backoff_s = max_backoff_s
        self.name = f"{client.name} websocket"
        self.connects = 0
        self.reconnects = 0
        self.conflated_batches = 0  # times the engine was behind and ticks were conflated
        self._universe_changed = trio.Event()
        self._fed_version = 0  # counts the changes of the fed coins

    # -- what a venue says ----------------------------------------------------------------

    @classmethod
    def stream_refused(cls, stream: str) -> str:
        """Why `stream` is not one of the venue's."""
        offered = ", ".join(cls.STREAMS)
        return f"{cls.VENUE}'s streams are {offered} (no all-market stream), not {stream!r}"

    def shard_count(self) -> int:
        """How many connections the current universe needs."""
        return 1

    def url(self, shard: int = 0) -> str:
        raise NotImplementedError

    def stream_text(self) -> str:
        raise NotImplementedError

    async def on_open(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        """Once connected: subscribe (nothing when the URL names the streams)."""

    async def keep_alive(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        """The venue's heartbeat; raises when the other side stopped answering."""
        await trio.sleep_forever()

    async def resubscribe(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        """Follow changes of the fed coins on this connection (`fed_change`); raise
        Reshard when they need another number of connections."""
        await trio.sleep_forever()

    def handle(self, message: str | bytes, ticks: list[Tick]) -> None:
        """One message of a venue that speaks JSON objects: decoded, handed to
        `parse_item`, and its prices appended to `ticks` (quotes noted); a malformed one
        counted, never fatal."""
        self.messages += 1
        try:
            item = json.loads(message)
            if not isinstance(item, dict):
                raise MalformedMessage("not a JSON object")
            parsed = self.parse_item(item)
        except (ValueError, UnicodeDecodeError) as exc:
            if not isinstance(exc, MalformedMessage):
                self.unreadable()
            reason = str(exc) if isinstance(exc, MalformedMessage) else f"not JSON ({exc})"
            self._count_malformed(reason, str(message)[:200])
            return
        if parsed:
            self.emit(parsed, ticks)

    def parse_item(self, item: dict[str, object]) -> list[Parsed]:
        """The prices a decoded message carries (answers and heartbeats carry none).

        Raises:
            MalformedMessage: what is wrong with it.
        """
        raise NotImplementedError

    def unreadable(self) -> None:
        """A message that was not even JSON arrived (a venue counting its messages is
        told, so that it does not take the unread one for a lost one)."""

    def emit(self, parsed: list[Parsed], ticks: list[Tick]) -> None:
        ts = self._stamp(None)
        self.last_message_ms = ts
        for symbol, price, bid, ask in parsed:
            if bid is not None and ask is not None:
                self.quotes.update(symbol, bid, ask, ts)
            ticks.append(Tick(ts, symbol, price))

    async def follow_universe(
        self,
        ws: wsclient.WebsocketClient,
        shard: int,
        wanted: Callable[[], list[str]],
        send: Send,
        ops: tuple[str, str] = ("unsubscribe", "subscribe"),
    ) -> None:
        """Keep this connection's subscriptions what `wanted()` says as the fed coins
        change: `send(ws, op, names)` for what left and for what came; Reshard when the
        universe needs another number of connections."""
        count = self.shard_count()
        subscribed = set(wanted())
        seen = self._fed_version
        while True:
            seen = await self.fed_change(seen)
            if self.shard_count() != count:
                raise Reshard(f"{len(self._markets)} coins need {self.shard_count()} connections")
            now = set(wanted())
            for op, names in (
                (ops[0], sorted(subscribed - now)),
                (ops[1], sorted(now - subscribed)),
            ):
                if names:
                    await send(ws, op, names)
            subscribed = now
            log.info("%s resubscribed: %d", self.name, len(now))

    # -- the loop -------------------------------------------------------------------------

    def _fed_changed(self) -> None:
        self._fed_version += 1
        changed, self._universe_changed = self._universe_changed, trio.Event()
        changed.set()

    async def fed_change(self, seen: int) -> int:
        """Wait until the fed coins changed since version `seen`; the new version (every
        connection waits on its own, none misses a change)."""
        while self._fed_version == seen:
            await self._universe_changed.wait()
        return self._fed_version

    async def feed(self, send: trio.MemorySendChannel[TickBatch]) -> None:
        """Every connection the universe needs, each made again with back-off, until
        cancelled; all of them again when the number needed changes."""
        while True:
            try:
                async with trio.open_nursery() as nursery:
                    for shard in range(self.shard_count()):
                        nursery.start_soon(self._connection, shard, send)
            except Reshard as exc:
                log.info("%s: %s", self.name, exc)

    async def _connection(self, shard: int, send: trio.MemorySendChannel[TickBatch]) -> None:
        attempt = 0
        first = True
        while True:
            self.state = "connecting" if not self.connects else "reconnecting"
            try:
                with trio.fail_after(CONNECT_TIMEOUT_S):
                    ws = await wsclient.connect(self.url(shard))
                try:
                    self.connects += 1
                    attempt = 0
                    await self.on_open(ws, shard)
                    self.state = "live"
                    if first:
                        log.info("%s connected: %s", self.name, self.stream_text())
                        first = False
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self.keep_alive, ws, shard)
                        nursery.start_soon(self.resubscribe, ws, shard)
                        await self._reader(ws, send, shard)
                        nursery.cancel_scope.cancel()
                finally:
                    await ws.aclose()
            except trio.Cancelled:
                raise
            except Reshard:
                raise
            except Exception as exc:  # connection errors of every kind: reconnect
                self.reconnects += 1
                why = leaf_errors(exc)
                if any(isinstance(e, Reshard) for e in why):
                    raise Reshard(str(why[0])) from None
                if all(isinstance(e, ReconnectNow) for e in why):
                    log.info("%s: %s", self.name, why[0])
                    self.state = "reconnecting"
                    continue
                log.warning("%s lost: %s; reconnecting", self.name, cause_text(exc))
            self.state = "reconnecting"
            delay = backoff_s(attempt, 0.5, self.max_backoff_s, self.rng)
            attempt += 1
            await trio.sleep(delay)

    def on_message(self, message: str | bytes, ticks: list[Tick], shard: int) -> None:
        """A message of connection `shard` (a venue that tells its connections apart
        overrides this)."""
        self.handle(message, ticks)

    async def _reader(
        self, ws: wsclient.WebsocketClient, send: trio.MemorySendChannel[TickBatch], shard: int
    ) -> None:
        """Messages to batches: one batch holds every message one read of the socket
        completed (no waiting for more), so that a burst costs one wake-up, not one per
        message. While the engine is behind (its channel full), ticks are held and
        conflated per symbol (`Conflater`): the backlog stays one batch, whatever the
        rate."""
        handle = self.handle if type(self).on_message is WebsocketFeed.on_message else None
        on_message = self.on_message
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
            if handle is not None:
                for message in messages:
                    handle(message, ticks)
            else:
                for message in messages:
                    on_message(message, ticks, shard)
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
