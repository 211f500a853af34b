"""Kraken market data over websocket (API v2), as Kraken's documentation describes it
(docs/venues.md, "Kraken"):

- one connection to `wss://ws.kraken.com/v2`; the `ticker` channel subscribed with
  `{"method": "subscribe", "params": {"channel": "ticker", "symbol": [...],
  "event_trigger": "bbo"}, "req_id": ...}`, each symbol answered (`"success": true`) or
  refused (`"success": false` and Kraken's `error`: the coin gets no prices, the log says
  why);
- `bookTicker` (and `auto`) asks for an update at every change of the best bid or offer
  and prices at their middle (the quotes feed the paper broker); `miniTicker` asks for an
  update at every trade and prices at the last trade;
- Kraken's keep-alive is its `heartbeat` channel, about once a second whenever nothing
  else is sent: a connection silent for `silence_s` is dead and made again;
- the `status` channel says whether the exchange is `online`; `maintenance` (or any other
  state) is shown in the header until it is online again, and the close that follows is
  met with reconnecting, with back-off;
- v2 names pairs as ccxt's unified symbols do (`BTC/USD`, not v1's `XBT/USD`): a coin's
  v2 name is its ccxt symbol.
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

DEFAULT_URL = "wss://ws.kraken.com/v2"
TRIGGERS = {"auto": "bbo", "bookTicker": "bbo", "miniTicker": "trades"}
ACK_TIMEOUT_S = 10.0


class SubscriptionUnanswered(ReconnectNow):
    """A symbol's subscription got no answer in time: connect again."""


class KrakenWebsocketSource(WebsocketFeed):
    """Kraken v2 `ticker`: updates on the best bid/offer or on trades."""

    VENUE = "Kraken"
    DEFAULT_URL = DEFAULT_URL
    STREAMS = tuple(TRIGGERS)
    SILENCE_S = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trigger = TRIGGERS[self.stream]
        self._next_id = 1
        self._unanswered: set[str] = set()
        self._heard = trio.Event()
        self.system = ""  # what the status channel said last
        self.refused: list[str] = []

    def url(self, shard: int = 0) -> str:
        return self.ws_url

    def names(self) -> list[str]:
        """The fed coins by their v2 names (ccxt's unified symbols)."""
        return sorted(self._markets)

    def stream_text(self) -> str:
        return f"ticker ({self.trigger}) ×{len(self._markets)}"

    def health(self) -> str:
        text = f"{super().health()} · {self.stream_text()}"
        if self.system and self.system != "online":
            text += f" · Kraken {self.system}"
        return text

    state_after_connect = "connecting"

    async def _send(self, ws: wsclient.WebsocketClient, method: str, names: list[str]) -> None:
        params: dict[str, object] = {"channel": "ticker", "symbol": names}
        if method == "subscribe":
            params["event_trigger"] = self.trigger
        await ws.send_text(
            json.dumps({"method": method, "params": params, "req_id": self._next_id})
        )
        self._next_id += 1

    async def on_open(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        names = self.names()
        self._unanswered = set(names)
        await self._send(ws, "subscribe", names)

    async def keep_alive(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        """Kraken's heartbeats keep the connection: the reader's silence deadline is the
        check. Here: every subscription must be answered in time."""
        with trio.move_on_after(ACK_TIMEOUT_S):
            while self._unanswered:
                self._heard = trio.Event()
                await self._heard.wait()
        if self._unanswered:
            raise SubscriptionUnanswered(
                f"no answer for {len(self._unanswered)} symbols within {ACK_TIMEOUT_S:g}s; "
                "reconnecting"
            )
        await trio.sleep_forever()

    async def resubscribe(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        await self.follow_universe(ws, shard, self.names, self._send)

    def parse_item(self, item: dict[str, object]) -> list[Parsed]:
        """A ticker update's price; answers and the status noted, heartbeats (their
        arrival is what counts) passed over."""
        self._heard.set()
        parsed = self._parse(item)
        return [parsed] if parsed is not None else []

    def _parse(self, item: dict[str, object]) -> Parsed | None:
        method = item.get("method")
        if method is not None:
            self._answer(item)
            return None
        channel = item.get("channel")
        if channel == "heartbeat":
            return None
        rows = item.get("data")
        if channel == "status":
            if isinstance(rows, list) and rows and isinstance(rows[0], dict):
                system = str(rows[0].get("system", ""))
                if system != self.system:
                    log.info("%s: Kraken is %s", self.name, system)
                self.system = system
            return None
        if channel != "ticker":
            raise MalformedMessage(f"a channel not subscribed: {str(channel)[:40]}")
        if not isinstance(rows, list) or not rows or not isinstance(rows[-1], dict):
            raise MalformedMessage("ticker without data")
        row = rows[-1]
        name = str(row.get("symbol"))
        if name not in self._markets:
            raise MalformedMessage(f"unknown symbol {name!r}")
        try:
            if self.trigger == "bbo":
                bid, ask = float(row["bid"]), float(row["ask"])
                if not 0 < bid <= ask:
                    raise MalformedMessage(f"{name}: bad quotes bid {bid} ask {ask}")
                return name, (bid + ask) / 2, bid, ask
            price = float(row["last"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedMessage(f"{name}: bad number ({exc!r})") from None
        if not price > 0:
            raise MalformedMessage(f"{name}: bad price {price}")
        return name, price, None, None

    def _answer(self, item: dict[str, object]) -> None:
        method = item.get("method")
        if method == "pong":
            return
        result = item.get("result")
        name = str(result.get("symbol")) if isinstance(result, dict) else str(item.get("symbol"))
        self._unanswered.discard(name)
        if method in ("subscribe", "unsubscribe") and item.get("success") is False:
            why = str(item.get("error", "no reason given"))
            self.refused.append(why)
            log.warning("%s refused a %s: %s", self.name, method, why)
