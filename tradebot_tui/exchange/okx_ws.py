"""OKX market data over websocket (API v5, public channels), as OKX's documentation
describes it (docs/venues.md, "OKX"):

- one connection to `/ws/v5/public`, channels subscribed with `{"op": "subscribe", "args":
  [{"channel": ..., "instId": ...}], "id": ...}`; each channel answered with an
  `"event": "subscribe"` or refused with `"event": "error"` and a code and message (the
  coin gets no prices, the log says why);
- `bbo-tbt` (best bid and ask, tick by tick: the price their middle, the quotes feed the
  paper broker) or `tickers` (the last price);
- the keep-alive is the text `ping`, sent once nothing arrived for `ping_s` (OKX closes a
  connection silent for 30 s), answered by the text `pong`; none within `ping_timeout_s`
  ends the connection;
- OKX's `notice` event (code 64008: the connection closes soon for a service upgrade)
  means connecting again now;
- `seqId` only grows per coin: an older message arriving late is dropped (counted). Each
  `bbo-tbt` message is the whole top of the book, so a skipped id leaves no hole;
- a connection carries at most `SHARD_CHANNELS` channels (OKX caps a request's args at
  64 KB and subscriptions at 480 requests an hour per connection); a larger universe is
  spread over several.
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

DEFAULT_URL = "wss://ws.okx.com:8443/ws/v5/public"
DEMO_URL = "wss://wspap.okx.com:8443/ws/v5/public"
CHANNELS = {"auto": "bbo-tbt", "bookTicker": "bbo-tbt", "miniTicker": "tickers"}
ARGS_PER_REQUEST = 100  # a request's args stay far below OKX's 64 KB
SHARD_CHANNELS = 300
ACK_TIMEOUT_S = 10.0
UPGRADE_NOTICE = "64008"


class ServiceUpgrade(ReconnectNow):
    """OKX's notice: this connection closes soon for a service upgrade."""


class SubscriptionUnanswered(ReconnectNow):
    """A channel's subscription got no answer in time: connect again."""


class OkxWebsocketSource(WebsocketFeed):
    """OKX v5 public channels: `bbo-tbt` or `tickers`, one connection per
    `SHARD_CHANNELS` coins."""

    VENUE = "OKX"
    DEFAULT_URL = DEFAULT_URL
    STREAMS = tuple(CHANNELS)

    def __init__(
        self,
        *args: Any,
        ping_s: float = 20.0,
        ping_timeout_s: float = 10.0,
        shard_channels: int = SHARD_CHANNELS,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.channel = CHANNELS[self.stream]
        self.ping_s = ping_s
        self.ping_timeout_s = ping_timeout_s
        self.shard_channels = shard_channels
        self._next_id = 1
        self._heard: dict[int, trio.Event] = {}  # by connection: anything arrived
        self._pongs: dict[int, trio.Event] = {}
        self._unanswered: dict[int, set[str]] = {}  # by connection: instIds awaiting an answer
        self._current = 0
        self._seq: dict[str, int] = {}
        self.refused: list[str] = []
        self.out_of_order = 0

    # -- where and what -------------------------------------------------------------------

    def shard_count(self) -> int:
        return max(1, -(-len(self._markets) // self.shard_channels))

    def inst_ids(self, shard: int) -> list[str]:
        count = self.shard_count()
        ids = (self.ids[s] for s in self._markets)
        return sorted(i for i in ids if zlib.crc32(i.encode()) % count == shard)

    def url(self, shard: int = 0) -> str:
        return self.ws_url

    def stream_text(self) -> str:
        shards = self.shard_count()
        over = f" over {shards} connections" if shards > 1 else ""
        return f"{self.channel} ×{len(self._markets)}{over}"

    def health(self) -> str:
        return f"{super().health()} · {self.stream_text()}"

    state_after_connect = "connecting"

    # -- the venue's protocol -------------------------------------------------------------

    async def _send(self, ws: wsclient.WebsocketClient, op: str, inst_ids: list[str]) -> None:
        for i in range(0, len(inst_ids), ARGS_PER_REQUEST):
            part = inst_ids[i : i + ARGS_PER_REQUEST]
            args = [{"channel": self.channel, "instId": inst} for inst in part]
            await ws.send_text(json.dumps({"id": str(self._next_id), "op": op, "args": args}))
            self._next_id += 1

    async def on_open(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        self._heard[shard] = trio.Event()
        self._pongs[shard] = trio.Event()
        ids = self.inst_ids(shard)
        self._unanswered[shard] = set(ids)
        await self._send(ws, "subscribe", ids)

    async def keep_alive(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        with trio.move_on_after(ACK_TIMEOUT_S):
            while self._unanswered.get(shard):
                heard = self._heard[shard] = trio.Event()
                await heard.wait()
        if self._unanswered.get(shard):
            raise SubscriptionUnanswered(
                f"no answer for {len(self._unanswered[shard])} channels within "
                f"{ACK_TIMEOUT_S:g}s; reconnecting"
            )
        while True:
            heard = self._heard[shard] = trio.Event()
            with trio.move_on_after(self.ping_s) as quiet:
                await heard.wait()
            if not quiet.cancelled_caught:
                continue  # something arrived: the connection is alive
            pong = self._pongs[shard] = trio.Event()
            await ws.send_text("ping")
            with trio.move_on_after(self.ping_timeout_s) as missed:
                await pong.wait()
            if missed.cancelled_caught:
                raise trio.TooSlowError(f"no pong within {self.ping_timeout_s:g}s")

    async def resubscribe(self, ws: wsclient.WebsocketClient, shard: int) -> None:
        await self.follow_universe(ws, shard, lambda: self.inst_ids(shard), self._send)

    def on_message(self, message: str | bytes, ticks: list[Tick], shard: int) -> None:
        self._current = shard
        heard = self._heard.get(shard)
        if heard is not None:
            heard.set()
        if message == "pong":
            self.messages += 1
            pong = self._pongs.get(shard)
            if pong is not None:
                pong.set()
            return
        self.handle(message, ticks)

    def parse_item(self, item: dict[str, object]) -> list[Parsed]:
        """A book or ticker message's price; events noted.

        Raises:
            ServiceUpgrade: OKX closes this connection soon: the caller reconnects now.
        """
        if "event" in item:
            self._event(item)
            return []
        parsed = self._parse(item)
        return [parsed] if parsed is not None else []

    def _event(self, item: dict[str, object]) -> None:
        event = item.get("event")
        arg = item.get("arg")
        inst = str(arg.get("instId", "")) if isinstance(arg, dict) else ""
        waiting = self._unanswered.get(self._current, set())
        if event in ("subscribe", "unsubscribe"):
            waiting.discard(inst)
        elif event == "error":
            why = f"{item.get('code')}: {item.get('msg')}"
            self.refused.append(why)
            log.warning("%s refused a subscription: %s", self.name, why)
            # OKX's error does not always say which channel: the request is answered.
            if inst:
                waiting.discard(inst)
            else:
                waiting.clear()
        elif event == "notice":
            if str(item.get("code")) == UPGRADE_NOTICE:
                raise ServiceUpgrade(f"OKX: {item.get('msg')}; reconnecting now")
            log.info("%s notice: %s %s", self.name, item.get("code"), item.get("msg"))
        elif event != "channel-conn-count":
            raise MalformedMessage(f"an unknown event {str(event)[:40]!r}")

    def _parse(self, item: dict[str, object]) -> Parsed | None:
        arg, rows = item.get("arg"), item.get("data")
        if not isinstance(arg, dict) or not isinstance(rows, list) or not rows:
            raise MalformedMessage("neither data nor an event")
        row = rows[-1]
        if not isinstance(row, dict):
            raise MalformedMessage("a data row that is not an object")
        inst = str(arg.get("instId", row.get("instId", "")))
        symbol = self.by_id.get(inst)
        if symbol is None:
            raise MalformedMessage(f"unknown instrument {inst!r}")
        channel = arg.get("channel")
        if channel == "bbo-tbt":
            seq = row.get("seqId")
            if isinstance(seq, int) and seq < self._seq.get(symbol, -1):
                self.out_of_order += 1
                return None
            try:
                bids, asks = row["bids"], row["asks"]
                one_sided = not bids or not asks  # no price now, but a newer book
                if not one_sided:
                    bid, ask = float(bids[0][0]), float(asks[0][0])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise MalformedMessage(f"{symbol}: bad book ({exc!r})") from None
            if not one_sided and not 0 < bid <= ask:
                raise MalformedMessage(f"{symbol}: bad quotes bid {bid} ask {ask}")
            if isinstance(seq, int):
                self._seq[symbol] = seq  # only a book that could be read is the newest
            if one_sided:
                return None
            return symbol, (bid + ask) / 2, bid, ask
        if channel == "tickers":
            try:
                price = float(str(row["last"]))
            except (KeyError, ValueError) as exc:
                raise MalformedMessage(f"{symbol}: bad last price ({exc!r})") from None
            if not price > 0:
                raise MalformedMessage(f"{symbol}: bad price {price}")
            return symbol, price, None, None
        raise MalformedMessage(f"a channel not subscribed: {str(channel)[:40]}")
