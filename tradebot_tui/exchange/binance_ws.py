"""Binance market data over websocket: combined streams (bookTicker, miniTicker or the
all-market mini-ticker array) read by our own RFC 6455 client (`wsclient`), kept alive
with pings, reconnected with back-off, resubscribed as the universe changes."""

from __future__ import annotations

import json
import logging
from typing import Any

import trio

from tradebot_tui.core.ticks import Tick
from tradebot_tui.exchange import wsclient
from tradebot_tui.exchange.feed import MalformedMessage, ReconnectNow
from tradebot_tui.exchange.ws_feed import WebsocketFeed

log = logging.getLogger("tradebot.feed")


class ServerShutdown(ReconnectNow):
    """Binance's `serverShutdown` event: the server closes soon; connect again now."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; reconnecting now")


class StreamChange(ReconnectNow):
    """The universe crossed AUTO_BOOK_LIMIT: connect again on the other stream."""


DEFAULT_URL = "wss://stream.binance.com:9443"

# Streams a websocket source can read. "auto" takes per-symbol bookTicker streams for a
# universe of up to AUTO_BOOK_LIMIT coins and the one all-market mini-ticker array for
# more: hundreds of bookTicker streams send tens of thousands of messages a second,
# while the array is one message a second whatever the universe.
STREAMS = ("auto", "bookTicker", "miniTicker", "allMiniTickers")
AUTO_BOOK_LIMIT = 40
ALL_MINI_TICKERS = "!miniTicker@arr"


class BinanceWebsocketSource(WebsocketFeed):
    """Binance combined streams (bookTicker, miniTicker or the all-market mini-ticker
    array, chosen by universe size when `stream` is "auto") over `wsclient`."""

    VENUE = "Binance"
    DEFAULT_URL = DEFAULT_URL
    STREAMS = STREAMS
    DEFAULT_STREAM = "bookTicker"

    def __init__(
        self, *args: Any, ping_s: float = 20.0, ping_timeout_s: float = 10.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.ping_s = ping_s
        self.ping_timeout_s = ping_timeout_s
        self._next_id = 1

    @classmethod
    def stream_refused(cls, stream: str) -> str:
        return f"stream must be one of {', '.join(STREAMS)}, not {stream!r}"

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

    def url(self, shard: int = 0) -> str:
        return f"{self.ws_url}/stream?streams={'/'.join(self.streams())}"

    def stream_text(self) -> str:
        """The stream read, in a few words (the header, the log)."""
        if self.active_stream == "allMiniTickers":
            return "all-market miniTicker"
        return f"{self.active_stream} ×{len(self._markets)}"

    def health(self) -> str:
        return f"{super().health()} · {self.stream_text()}"

    state_after_connect = "connecting"  # the markets answered; the stream not yet

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

    async def keep_alive(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        while True:
            await trio.sleep(self.ping_s)
            with trio.fail_after(self.ping_timeout_s):
                await ws.ping()

    async def resubscribe(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        subscribed = set(self.streams())
        kind = self.active_stream
        seen = self._fed_version
        while True:
            seen = await self.fed_change(seen)
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
