"""Bybit market data over websocket (v5 public spot), as Bybit's documentation describes it
(docs/venues.md, "Bybit"):

- one connection to `/v5/public/spot`, topics subscribed with `{"op": "subscribe", "args":
  [...], "req_id": ...}`, at most 10 args a request, each request acknowledged
  (`"success": true`) or refused (`"success": false`, `ret_msg` says why: the coin gets no
  prices, and the log says which);
- `orderbook.1.<id>` (best bid and ask, snapshots only; the price is their middle, and the
  quotes feed the paper broker) or `tickers.<id>` (the last price);
- the keep-alive is the application's own: `{"op": "ping"}` every 20 s, answered by a pong
  (`ret_msg` "pong", or `op` "pong"); none within `ping_timeout_s` ends the connection;
- a connection carries at most `SHARD_TOPICS` topics (Bybit caps the args of one
  connection at 21,000 characters): a larger universe is spread over several;
- the book's update id `u` only grows, except `u` = 1 after a restart of Bybit's service:
  an older snapshot arriving late is dropped (counted), never applied over a newer one.
  Every message is a whole level-1 snapshot, so a skipped id leaves no hole to fill.
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

import trio

from tradebot_tui.core.ticks import Tick
from tradebot_tui.exchange import wsclient
from tradebot_tui.exchange.feed import MalformedMessage, ReconnectNow
from tradebot_tui.exchange.ws_feed import Parsed, WebsocketFeed

log = logging.getLogger("tradebot.feed")

DEFAULT_URL = "wss://stream.bybit.com/v5/public/spot"
TESTNET_URL = "wss://stream-testnet.bybit.com/v5/public/spot"
# Bybit's streams, by the names `market.ws_stream` uses for Binance's equivalents.
TOPICS = {"auto": "orderbook.1", "bookTicker": "orderbook.1", "miniTicker": "tickers"}
ARGS_PER_REQUEST = 10  # Bybit spot: at most 10 args in one subscribe request
SHARD_TOPICS = 400  # well under the 21,000 characters of args one connection may carry
ACK_TIMEOUT_S = 10.0


class SubscriptionUnanswered(ReconnectNow):
    """A subscribe request got no answer in time: connect again."""


class BybitWebsocketSource(WebsocketFeed):
    """Bybit v5 public spot: level-1 books or tickers, over one connection per
    `SHARD_TOPICS` coins."""

    VENUE = "Bybit"
    DEFAULT_URL = DEFAULT_URL
    STREAMS = tuple(TOPICS)

    def __init__(
        self,
        *args: Any,
        ping_s: float = 20.0,
        ping_timeout_s: float = 10.0,
        shard_topics: int = SHARD_TOPICS,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.topic = TOPICS[self.stream]
        self.ping_s = ping_s
        self.ping_timeout_s = ping_timeout_s
        self.shard_topics = shard_topics
        self._next_id = 1
        self._pongs: dict[int, trio.Event] = {}  # by connection: the next pong
        self._acks: dict[str, trio.Event] = {}  # by req_id: the answer came
        self._pending: dict[int, list[trio.Event]] = {}  # by connection: acks awaited
        self._current = 0  # the connection whose message is being handled
        self._book_u: dict[str, int] = {}  # the last update id applied, by symbol
        self.refused: list[str] = []  # what Bybit said when it refused a subscription
        self.out_of_order = 0  # late snapshots dropped

    # -- where and what -------------------------------------------------------------------

    def shard_count(self) -> int:
        return max(1, -(-len(self._markets) // self.shard_topics))

    def shard_of(self, symbol_id: str, count: int | None = None) -> int:
        """The connection a coin's topic rides on: stable while the count is."""
        return zlib.crc32(symbol_id.encode()) % (count or self.shard_count())

    def topics(self, shard: int) -> list[str]:
        count = self.shard_count()
        return sorted(
            f"{self.topic}.{self.ids[s]}"
            for s in self._markets
            if self.shard_of(self.ids[s], count) == shard
        )

    def url(self, shard: int = 0) -> str:
        return self.ws_url

    def stream_text(self) -> str:
        shards = self.shard_count()
        over = f" over {shards} connections" if shards > 1 else ""
        return f"{self.topic} ×{len(self._markets)}{over}"

    def health(self) -> str:
        return f"{super().health()} · {self.stream_text()}"

    state_after_connect = "connecting"

    # -- the venue's protocol -------------------------------------------------------------

    def _request(self, op: str, args: list[str] | None = None) -> tuple[str, str]:
        req_id = str(self._next_id)
        self._next_id += 1
        message: dict[str, object] = {"req_id": req_id, "op": op}
        if args is not None:
            message["args"] = args
        return req_id, json.dumps(message)

    async def _send_topics(
        self, ws: wsclient.WebsocketClient, op: str, topics: list[str]
    ) -> list[trio.Event]:
        answers = []
        for i in range(0, len(topics), ARGS_PER_REQUEST):
            req_id, text = self._request(op, topics[i : i + ARGS_PER_REQUEST])
            answers.append(self._acks.setdefault(req_id, trio.Event()))
            await ws.send_text(text)
        return answers

    async def on_open(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        self._pongs[shard] = trio.Event()
        # Acknowledgements arrive on the reader, which runs next: awaited by keep_alive.
        self._pending[shard] = await self._send_topics(ws, "subscribe", self.topics(shard))

    async def keep_alive(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        pending = self._pending.pop(shard, [])
        with trio.move_on_after(ACK_TIMEOUT_S) as late:
            for answer in pending:
                await answer.wait()
        if late.cancelled_caught:
            raise SubscriptionUnanswered(
                f"no answer to a subscription within {ACK_TIMEOUT_S:g}s; reconnecting"
            )
        while True:
            await trio.sleep(self.ping_s)
            pong = self._pongs[shard] = trio.Event()
            await ws.send_text(self._request("ping")[1])
            with trio.move_on_after(self.ping_timeout_s) as missed:
                await pong.wait()
            if missed.cancelled_caught:
                raise trio.TooSlowError(f"no pong within {self.ping_timeout_s:g}s")

    async def resubscribe(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        await self.follow_universe(ws, shard, lambda: self.topics(shard), self._send_topics)

    def on_message(self, message: str | bytes, ticks: list[Tick], shard: int) -> None:
        self._current = shard
        self.handle(message, ticks)

    def parse_item(self, item: dict[str, object]) -> list[Parsed]:
        """A book or ticker snapshot's price; answers and pongs noted."""
        if "topic" not in item:
            self._answer(item)
            return []
        parsed = self._parse(item)
        return [parsed] if parsed is not None else []

    def _answer(self, item: dict[str, object]) -> None:
        """A pong, or the answer to a (un)subscribe request."""
        op = item.get("op")
        if op == "pong" or (op == "ping" and item.get("ret_msg") == "pong"):
            pong = self._pongs.get(self._current)
            if pong is not None:
                pong.set()
            return
        req_id = str(item.get("req_id", ""))
        answered = self._acks.pop(req_id, None)
        if answered is not None:
            answered.set()
        if op in ("subscribe", "unsubscribe") and item.get("success") is False:
            why = str(item.get("ret_msg", "no reason given"))
            self.refused.append(why)
            log.warning("%s refused a %s: %s", self.name, op, why)
        elif op is None or (op not in ("subscribe", "unsubscribe") and "success" not in item):
            raise MalformedMessage(f"neither data nor an answer: {str(item)[:80]}")

    def _parse(
        self, item: dict[str, object]
    ) -> tuple[str, float, float | None, float | None] | None:
        data = item.get("data")
        if not isinstance(data, dict):
            raise MalformedMessage("data is not an object")
        topic = str(item["topic"])
        if topic.startswith("orderbook."):
            symbol = self.by_id.get(str(data.get("s")))
            if symbol is None:
                raise MalformedMessage(f"unknown symbol {data.get('s')!r}")
            update = data.get("u")
            if not isinstance(update, int):
                raise MalformedMessage(f"{symbol}: bad update id {update!r}")
            last = self._book_u.get(symbol, 0)
            if update < last and update != 1:  # 1: Bybit's service restarted
                self.out_of_order += 1
                return None
            try:
                bids, asks = data["b"], data["a"]
                one_sided = not bids or not asks  # no price now, but a newer book
                if not one_sided:
                    bid, ask = float(bids[0][0]), float(asks[0][0])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise MalformedMessage(f"{symbol}: bad book ({exc!r})") from None
            if not one_sided and not 0 < bid <= ask:
                raise MalformedMessage(f"{symbol}: bad quotes bid {bid} ask {ask}")
            self._book_u[symbol] = update  # only a book that could be read is the newest
            if one_sided:
                return None
            return symbol, (bid + ask) / 2, bid, ask
        if topic.startswith("tickers."):
            symbol = self.by_id.get(str(data.get("symbol")))
            if symbol is None:
                raise MalformedMessage(f"unknown symbol {data.get('symbol')!r}")
            try:
                price = float(str(data["lastPrice"]))
            except (KeyError, ValueError) as exc:
                raise MalformedMessage(f"{symbol}: bad last price ({exc!r})") from None
            if not price > 0:
                raise MalformedMessage(f"{symbol}: bad price {price}")
            return symbol, price, None, None
        raise MalformedMessage(f"a topic not subscribed: {topic[:40]}")
