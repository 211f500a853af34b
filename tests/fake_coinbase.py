"""A fake Coinbase (Advanced Trade) on 127.0.0.1, from Coinbase's documentation: the market
data websocket and the REST calls ccxt makes to load markets and candles
(`/v2/currencies`, `/v2/currencies/crypto`, `/v2/exchange-rates`,
`/api/v3/brokerage/market/products`, `.../products/<id>/candles`).

The websocket takes `{"type": "subscribe" | "unsubscribe", "channel": "ticker",
"product_ids": [...]}` and `{"type": "subscribe", "channel": "heartbeats"}`; it answers with
the `subscriptions` message (what the connection is subscribed to), pushes a `snapshot`
ticker event for each product subscribed and `update` events after, and `heartbeats`
once a second. Every message carries the connection's `sequence_num`. A product it does not
list gets an `error` message. A connection that subscribes to nothing within 5 s is
closed, as Coinbase does.

As mean as the documentation allows:
- `subscriptions_delay_s`: the subscriptions message comes late; `refuse`: products refused;
- `skip_sequence_at`: this sequence number is never sent (a lost message);
- `close_after`: after this many messages the server closes the connection;
- `silent`: nothing at all (no heartbeats either);
- `malformed_every`: every n-th message is broken JSON.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from decimal import Decimal
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest

from tests.fake_http import RestFake
from tests.fake_ws import Pacer, serve_loopback

D = Decimal
TICK = D("0.01")


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


class _Connection:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seq = -1
        self.products: list[str] = []
        self.heartbeats = False
        self.subscribed = trio.Event()
        self.fresh: list[str] = []  # products whose snapshot is due


class FakeCoinbase(RestFake):
    def __init__(self, prices: dict[str, str] | None = None) -> None:
        self.prices = {k: D(v) for k, v in (prices or {"BTC-USDT": "70000.00"}).items()}
        self.subscriptions_delay_s = 0.0
        self.refuse: set[str] = set()
        self.skip_sequence_at: int | None = None
        self.close_after: int | None = None
        self.silent = False
        self.malformed_every = 0
        self.connections = 0
        self.sent = 0
        self.heartbeats_sent = 0
        self.requests: list[Any] = []

    # -- websocket -------------------------------------------------------------------------

    async def serve(
        self,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
        rate_hz: float = 20,
        slices: int = 1,
    ) -> None:
        async def handler(request: WebSocketRequest) -> None:
            ws = await request.accept()
            self.connections += 1
            conn = _Connection(ws)
            rng = random.Random(self.connections)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._control, conn)
                with contextlib.suppress(ConnectionClosed):
                    with trio.move_on_after(5) as late:
                        await conn.subscribed.wait()
                    if late.cancelled_caught:  # nothing subscribed in 5 s: closed
                        await ws.aclose(1000, "no subscription")
                    else:
                        await self._stream(conn, rng, Pacer(rate_hz, slices))
                nursery.cancel_scope.cancel()

        await serve_loopback(handler, "", task_status)

    async def _send(self, conn: _Connection, message: dict[str, Any]) -> None:
        conn.seq += 1
        self.sent += 1
        if self.skip_sequence_at is not None and conn.seq == self.skip_sequence_at:
            self.skip_sequence_at = None
            conn.seq += 1  # that number is never sent: a lost message
        message = {"client_id": "", "timestamp": stamp(), "sequence_num": conn.seq, **message}
        if self.malformed_every and self.sent % self.malformed_every == 0:
            await conn.ws.send_message('{"channel": "ticker", "sequence_num": ')
            return
        await conn.ws.send_message(json.dumps(message))

    async def _stream(self, conn: _Connection, rng: random.Random, pacer: Pacer) -> None:
        beat = trio.current_time()
        while True:
            part = await pacer.next()
            if self.silent:
                continue
            if self.close_after is not None and self.sent > self.close_after:
                self.close_after = None
                await conn.ws.aclose(1001, "going away")
                return
            if conn.heartbeats and trio.current_time() - beat >= 1.0:
                beat = trio.current_time()
                self.heartbeats_sent += 1
                events = [{"current_time": stamp(), "heartbeat_counter": self.heartbeats_sent}]
                await self._send(conn, {"channel": "heartbeats", "events": events})
            fresh, conn.fresh = conn.fresh, []
            if fresh:
                tickers = [self.ticker(p, rng) for p in fresh]
                await self._send(
                    conn,
                    {"channel": "ticker", "events": [{"type": "snapshot", "tickers": tickers}]},
                )
            for product in list(conn.products)[part :: pacer.slices]:
                event = {"type": "update", "tickers": [self.ticker(product, rng)]}
                await self._send(conn, {"channel": "ticker", "events": [event]})

    def ticker(self, product: str, rng: random.Random) -> dict[str, Any]:
        price = (self.prices[product] * (1 + D(rng.randint(-20, 20)) / 10000)).quantize(TICK)
        return {
            "type": "ticker",
            "product_id": product,
            "price": str(price),
            "volume_24_h": "100",
            "best_bid": str(price),
            "best_bid_quantity": "1.5",
            "best_ask": str(price + TICK),
            "best_ask_quantity": "2",
        }

    async def _control(self, conn: _Connection) -> None:
        try:
            while True:
                text = await conn.ws.get_message()
                try:
                    request = json.loads(text)
                except json.JSONDecodeError:
                    continue
                self.requests.append(request)
                kind, channel = request.get("type"), request.get("channel")
                if channel == "heartbeats":
                    conn.heartbeats = kind == "subscribe"
                elif channel == "ticker":
                    products = [str(p) for p in request.get("product_ids", [])]
                    bad = [p for p in products if p not in self.prices or p in self.refuse]
                    for p in bad:
                        await self._send(
                            conn, {"type": "error", "message": f"Failed to subscribe to {p}"}
                        )
                    good = [p for p in products if p not in bad]
                    if kind == "subscribe":
                        new = [p for p in good if p not in conn.products]
                        conn.products.extend(new)
                        conn.fresh.extend(new)
                    else:
                        conn.products[:] = [p for p in conn.products if p not in good]
                else:
                    await self._send(conn, {"type": "error", "message": "unknown channel"})
                    continue
                conn.subscribed.set()
                if self.subscriptions_delay_s:
                    await trio.sleep(self.subscriptions_delay_s)
                subs: dict[str, list[str]] = {"ticker": list(conn.products)}
                if conn.heartbeats:
                    subs["heartbeats"] = ["heartbeats"]
                await self._send(
                    conn, {"channel": "subscriptions", "events": [{"subscriptions": subs}]}
                )
        except ConnectionClosed:
            return

    # -- REST ------------------------------------------------------------------------------

    def rest(self, path: str, q: dict[str, str]) -> Any:
        coins = sorted({p.split("-")[0] for p in self.prices} | {"USDT"})
        if path == "/v2/time":
            now = time.time()
            iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
            return {"data": {"iso": iso, "epoch": int(now)}}
        if path == "/v2/currencies":
            return {"data": [{"id": "USD", "name": "US Dollar", "min_size": "0.01"}]}
        if path == "/v2/currencies/crypto":
            return {
                "data": [{"code": c, "name": c, "exponent": 8, "type": "crypto"} for c in coins]
            }
        if path == "/v2/exchange-rates":
            return {"data": {"currency": "USD", "rates": {c: "1" for c in coins}}}
        if path == "/api/v3/brokerage/market/products":
            if q.get("product_type") == "FUTURE":
                return {"products": [], "num_products": 0}
            products = [
                {
                    "product_id": p,
                    "price": str(price),
                    "base_increment": "0.00000001",
                    "quote_increment": str(TICK),
                    "price_increment": str(TICK),
                    "base_min_size": "0.00000001",
                    "base_max_size": "3400",
                    "quote_min_size": "1",
                    "quote_max_size": "150000000",
                    "status": "online",
                    "trading_disabled": False,
                    "product_type": "SPOT",
                    "quote_currency_id": p.split("-")[1],
                    "base_currency_id": p.split("-")[0],
                    "base_display_symbol": p.split("-")[0],
                    "quote_display_symbol": p.split("-")[1],
                    "alias": "",
                    "alias_to": [],
                }
                for p, price in self.prices.items()
            ]
            return {"products": products, "num_products": len(products)}
        if path.startswith("/api/v3/brokerage/market/products/") and path.endswith("/candles"):
            product = path.split("/")[-2]
            level = self.prices.get(product, D(1))
            end = min(int(q.get("end", str(int(time.time())))), int(time.time()))
            start = int(q.get("start", str(end - 300 * 60)))
            stamps = range(end // 60 * 60 - 60, max(start, end - 300 * 60) - 1, -60)
            candles = [
                {
                    "start": str(t),
                    "low": str(level),
                    "high": str(level),
                    "open": str(level),
                    "close": str(level),
                    "volume": "1",
                }
                for t in stamps
            ]
            return {"candles": candles}
        return {"error": "NOT_FOUND", "message": f"no such path in the fake: {path}"}
