"""Coinbase market data over websocket (Advanced Trade), as Coinbase's documentation
describes it (docs/venues.md, "Coinbase"):

- one connection to `wss://advanced-trade-ws.coinbase.com`; within 5 s of connecting (or
  Coinbase closes it) the `ticker` channel is subscribed for the fed products
  (`{"type": "subscribe", "channel": "ticker", "product_ids": [...]}`) and the
  `heartbeats` channel with it, which keeps the connection open (Coinbase closes channels
  quiet for 60-90 s);
- the `subscriptions` message says what is subscribed: a product missing from it 10 s on
  means connecting again, unless Coinbase refused it (an `error` message, logged with
  Coinbase's words: that coin gets no price, and asking again would be refused again);
- every message carries the connection's `sequence_num`: a gap means messages were lost,
  and the connection is made again (the subscription starts with a snapshot of every
  product: nothing stays missing);
- `bookTicker` (and `auto`) prices at the middle of `best_bid` and `best_ask` (the quotes
  fill paper orders); `miniTicker` at the last trade's `price`;
- heartbeats arrive once a second: `silence_s` without any message means the connection
  is dead.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import trio

from tradebot_tui.exchange import wsclient
from tradebot_tui.exchange.feed import MalformedMessage, ReconnectNow
from tradebot_tui.exchange.ws_feed import Parsed, WebsocketFeed

log = logging.getLogger("tradebot.feed")

DEFAULT_URL = "wss://advanced-trade-ws.coinbase.com"
STREAMS = ("auto", "bookTicker", "miniTicker")
ACK_TIMEOUT_S = 10.0


class SequenceGap(ReconnectNow):
    """Coinbase's sequence numbers skipped: messages were lost; connect again."""


class SubscriptionUnanswered(ReconnectNow):
    """The subscriptions message never listed every product: connect again."""


class CoinbaseWebsocketSource(WebsocketFeed):
    """Coinbase Advanced Trade `ticker` (with `heartbeats`), one connection."""

    VENUE = "Coinbase"
    DEFAULT_URL = DEFAULT_URL
    STREAMS = STREAMS
    SILENCE_S = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.use_book = self.stream != "miniTicker"
        self._last_seq: int | None = None
        self._unread = 0  # messages since the last sequence number that could not be read
        self._listed: set[str] = set()  # products the last subscriptions message listed
        self._heard = trio.Event()
        self.refused: list[str] = []
        self._refusals_at_open = 0
        self.gaps = 0

    def url(self, shard: int = 0) -> str:
        return self.ws_url

    def products(self) -> list[str]:
        return sorted(self.ids[s] for s in self._markets)

    def stream_text(self) -> str:
        return f"ticker ×{len(self._markets)} + heartbeats"

    def health(self) -> str:
        return f"{super().health()} · {self.stream_text()}"

    state_after_connect = "connecting"

    async def _send(self, ws: wsclient.WebsocketClient, kind: str, products: list[str]) -> None:
        message = {"type": kind, "channel": "ticker", "product_ids": products}
        await ws.send_text(json.dumps(message))

    async def on_open(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        self._last_seq = None
        self._unread = 0
        self._listed = set()
        self._refusals_at_open = len(self.refused)
        await ws.send_text(json.dumps({"type": "subscribe", "channel": "heartbeats"}))
        await self._send(ws, "subscribe", self.products())

    async def keep_alive(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        """The heartbeats channel keeps the connection; the reader's silence deadline is
        the check. Here: every product must be listed as subscribed in time."""
        refusals = self._refusals_at_open
        with trio.move_on_after(ACK_TIMEOUT_S):
            while not set(self.products()) <= self._listed and len(self.refused) == refusals:
                self._heard = trio.Event()
                await self._heard.wait()
        missing = set(self.products()) - self._listed
        if missing and len(self.refused) > refusals:
            # Refused: connecting again would be refused again. The coins get no price
            # (the watchlist shows them stale) and the log says which.
            log.warning(
                "%s: not subscribed: %s (Coinbase said: %s)",
                self.name,
                ", ".join(sorted(missing)),
                self.refused[-1],
            )
        elif missing:
            raise SubscriptionUnanswered(
                f"{len(missing)} products not subscribed after {ACK_TIMEOUT_S:g}s; reconnecting"
            )
        await trio.sleep_forever()

    async def resubscribe(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        await self.follow_universe(ws, shard, self.products, self._send)

    def parse_item(self, item: dict[str, object]) -> list[Parsed]:
        """The prices of a ticker message; subscriptions and errors noted.

        Raises:
            SequenceGap: a message was lost on this connection.
        """
        self._heard.set()
        if "sequence_num" in item or item.get("type") != "error":
            self._sequence(item)
        if item.get("type") == "error":
            why = str(item.get("message", "no reason given"))
            self.refused.append(why)
            log.warning("%s: Coinbase said: %s", self.name, why)
            return []
        return self._parse(item)

    def unreadable(self) -> None:
        self._unread += 1  # its sequence number is unknown: not a lost message

    def _sequence(self, item: dict[str, object]) -> None:
        seq = item.get("sequence_num")
        if not isinstance(seq, int):
            raise MalformedMessage(f"bad sequence_num {seq!r}")
        last, self._last_seq = self._last_seq, seq
        unread, self._unread = self._unread, 0
        if last is not None and seq > last + 1 + unread:
            self.gaps += 1
            lost = seq - last - 1 - unread
            raise SequenceGap(f"sequence {last} → {seq}: {lost} messages lost; reconnecting")

    def _parse(self, item: dict[str, object]) -> list[Parsed]:
        channel = item.get("channel")
        events = item.get("events")
        if not isinstance(events, list):
            raise MalformedMessage("events is not a list")
        if channel == "heartbeats":
            return []
        if channel == "subscriptions":
            for event in events:
                subs = event.get("subscriptions") if isinstance(event, dict) else None
                if isinstance(subs, dict):
                    self._listed = {str(p) for p in subs.get("ticker", [])}
            return []
        if channel != "ticker":
            raise MalformedMessage(f"a channel not subscribed: {str(channel)[:40]}")
        out: list[Parsed] = []
        for event in events:
            tickers = event.get("tickers") if isinstance(event, dict) else None
            if not isinstance(tickers, list):
                raise MalformedMessage("an event without tickers")
            for row in tickers:
                out.append(self._ticker(row))
        return out

    def _ticker(self, row: object) -> Parsed:
        if not isinstance(row, dict):
            raise MalformedMessage("a ticker that is not an object")
        symbol = self.by_id.get(str(row.get("product_id")))
        if symbol is None:
            raise MalformedMessage(f"unknown product {row.get('product_id')!r}")
        try:
            if self.use_book:
                bid, ask = float(row["best_bid"]), float(row["best_ask"])
                if not 0 < bid <= ask:
                    raise MalformedMessage(f"{symbol}: bad quotes bid {bid} ask {ask}")
                return symbol, (bid + ask) / 2, bid, ask
            price = float(row["price"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedMessage(f"{symbol}: bad number ({exc!r})") from None
        if not price > 0:
            raise MalformedMessage(f"{symbol}: bad price {price}")
        return symbol, price, None, None
