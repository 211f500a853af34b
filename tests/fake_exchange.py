"""A fake Binance spot exchange on 127.0.0.1, for tests and benchmarks.

REST: the subset ccxt's binance client uses (exchangeInfo, time, ticker/24hr, bookTicker,
account, order create/query/cancel, openOrders, myTrades), served by a stdlib threading
HTTP server. Websocket: combined streams (`/stream?streams=btcusdt@bookTicker/...`) with
SUBSCRIBE/UNSUBSCRIBE, served by trio-websocket inside the test's trio run.

Faults are queued with `inject()` and consumed by matching requests: 429 and 418 with
Retry-After, 5xx, timeouts, dropped connections, malformed JSON, rejects. Orders fill at
once, partially, or later (`fill_mode`). Everything the exchange did is kept for checks:
orders by client id, fills, and every create request (to find duplicates).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

D = Decimal
FEE_RATE = D("0.001")


@dataclass
class Fault:
    """One injected failure: `kind` for the next `count` requests matching method and path.

    kinds: 429, 418, 500, 503 (status with a Binance error body; 429/418 with Retry-After),
    "timeout" (answer after `delay` s), "drop" (close without answering), "malformed"
    (200 with broken JSON). `applied`: the request takes effect before the fault answers
    (an order placed, then its answer lost).
    """

    kind: str | int
    method: str = "*"
    path: str = ""
    count: int = 1
    retry_after: int = 1
    delay: float = 5.0
    applied: bool = False


@dataclass
class FakeOrder:
    symbol: str  # exchange id, e.g. BTCUSDT
    order_id: int
    client_id: str
    side: str
    type: str
    qty: D
    price: D | None
    created_ms: int
    status: str = "NEW"
    executed: D = field(default_factory=D)
    quote: D = field(default_factory=D)
    fills: list[dict[str, str]] = field(default_factory=list)
    # What remains to fill, and when (delayed fills).
    fill_at: float | None = None
    fill_plan: list[D] = field(default_factory=list)


@dataclass
class Market:
    base: str
    quote: str
    price: D
    step: str = "0.00001000"
    tick: str = "0.01000000"
    min_qty: str = "0.00001000"
    min_notional: str = "5.00000000"
    volume: D = field(default_factory=lambda: D(1_000_000))


class FakeBinance:
    """State and behaviour of the fake exchange (REST side thread-safe under one lock)."""

    def __init__(
        self, markets: dict[str, Market] | None = None, balances: dict[str, str] | None = None
    ) -> None:
        self.markets = markets or {
            "BTCUSDT": Market("BTC", "USDT", D("70000.00")),
            "ETHUSDT": Market("ETH", "USDT", D("2000.00"), step="0.00010000"),
            "SOLUSDT": Market("SOL", "USDT", D("150.00"), step="0.00100000", volume=D(500_000)),
            "BTCUPUSDT": Market("BTCUP", "USDT", D("10.00"), step="0.01000000", volume=D(9e9)),
            "USDCUSDT": Market("USDC", "USDT", D("1.0000"), tick="0.00010000", volume=D(8e9)),
        }
        self.balances: dict[str, D] = {k: D(v) for k, v in (balances or {"USDT": "10000"}).items()}
        self.lock = threading.Lock()
        self.faults: deque[Fault] = deque()
        self.orders: dict[str, FakeOrder] = {}
        self.create_requests: list[str] = []  # client ids, in order, duplicates included
        self.requests: list[tuple[str, str]] = []
        self.next_order_id = 1
        self.fill_mode = "full"  # full | partial | delayed | reject
        self.fill_delay_s = 0.3
        self.partial_fraction = D("0.4")
        self.api_key_seen: set[str] = set()
        self.silent_symbols: set[str] = set()  # tickers of these are not served
        # A price path by symbol (wall seconds -> price), replacing the fixed prices.
        self.scripts: dict[str, Callable[[float], D]] = {}
        self.fill_rng = random.Random(7)
        # Binance's default: the commission of a buy is taken from the coin bought.
        self.base_fee_on_buy = False
        self.in_flight = 0
        self.max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # websocket side
        self.ws_connections = 0
        self.ws_malformed_every = 0
        self.ws_drop_after: int | None = None
        self.ws_silent = False
        self.ws_sent = 0
        self.ws_subscriptions: list[list[str]] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        """Start the REST server; returns its base URL."""
        fake = self

        class Handler(_Handler):
            exchange = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self.rest_url

    @property
    def rest_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeBinance:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, kind: str | int, **kwargs: Any) -> None:
        with self.lock:
            self.faults.append(Fault(kind, **kwargs))

    def price_at(self, sid: str, when_s: float) -> D:
        script = self.scripts.get(sid)
        return script(when_s) if script is not None else self.markets[sid].price

    def _tick_scripts(self) -> None:
        now = time.time()
        for sid in self.scripts:
            self.markets[sid].price = self.price_at(sid, now)

    def klines(self, q: dict[str, str]) -> list[list[Any]]:
        sid = q.get("symbol", "")
        limit = int(q.get("limit", "500"))
        start = int(q.get("startTime", str(now_ms() - limit * 60_000)))
        start -= start % 60_000
        rows = []
        for i in range(limit):
            t = start + i * 60_000
            if t > now_ms():
                break
            samples = [self.price_at(sid, (t + k * 500) / 1000) for k in range(120)]
            rows.append(
                [
                    t,
                    str(samples[0]),
                    str(max(samples)),
                    str(min(samples)),
                    str(samples[-1]),
                    "10",
                    t + 59_999,
                    "1000",
                    10,
                    "5",
                    "500",
                    "0",
                ]
            )
        return rows

    def set_price(self, symbol_id: str, price: str) -> None:
        with self.lock:
            self.markets[symbol_id].price = D(price)

    # -- REST behaviour (called under the lock) --------------------------------------------

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in ("*", method) and path.startswith(fault.path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def exchange_info(self) -> dict[str, Any]:
        symbols = []
        for sid, m in self.markets.items():
            symbols.append(
                {
                    "symbol": sid,
                    "status": "TRADING",
                    "baseAsset": m.base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": m.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": ["LIMIT", "MARKET"],
                    "icebergAllowed": True,
                    "ocoAllowed": False,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": m.tick,
                            "maxPrice": "1000000.00",
                            "tickSize": m.tick,
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": m.min_qty,
                            "maxQty": "9000000.00",
                            "stepSize": m.step,
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": m.min_notional,
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "NONE",
                    "allowedSelfTradePreventionModes": ["NONE"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def ticker(self, sid: str) -> dict[str, Any]:
        m = self.markets[sid]
        p = m.price
        half = (p * D("0.0001")).quantize(D(m.tick))
        return {
            "symbol": sid,
            "priceChange": "0",
            "priceChangePercent": "0",
            "weightedAvgPrice": str(p),
            "prevClosePrice": str(p),
            "lastPrice": str(p),
            "lastQty": "1",
            "bidPrice": str(p - half),
            "bidQty": "10",
            "askPrice": str(p + half),
            "askQty": "10",
            "openPrice": str(p),
            "highPrice": str(p),
            "lowPrice": str(p),
            "volume": str(m.volume / p),
            "quoteVolume": str(m.volume),
            "openTime": now_ms() - 86_400_000,
            "closeTime": now_ms(),
            "firstId": 1,
            "lastId": 2,
            "count": 2,
        }

    def account(self) -> dict[str, Any]:
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "updateTime": now_ms(),
            "accountType": "SPOT",
            "permissions": ["SPOT"],
            "balances": [
                {"asset": a, "free": str(v), "locked": "0"}
                for a, v in sorted(self.balances.items())
            ],
        }

    def create_order(self, q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        cid = q.get("newClientOrderId", "")
        self.create_requests.append(cid)
        sid = q.get("symbol", "")
        if sid not in self.markets:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if cid in self.orders:
            return 400, {"code": -2010, "msg": "Duplicate order sent."}
        if self.fill_mode == "reject":
            return 400, {
                "code": -2010,
                "msg": "Account has insufficient balance for requested action.",
            }
        qty = D(q["quantity"])
        order = FakeOrder(
            sid,
            self.next_order_id,
            cid,
            q["side"],
            q["type"],
            qty,
            D(q["price"]) if "price" in q else None,
            now_ms(),
        )
        self.next_order_id += 1
        self.orders[cid] = order
        mode = self.fill_mode
        if mode == "mixed":
            mode = self.fill_rng.choice(["full", "partial", "delayed", "delayed"])
        if mode == "full":
            self._fill(order, qty)
        elif mode == "partial":
            first = (qty * self.partial_fraction).quantize(D(self.markets[sid].step))
            self._fill(order, first)
            order.fill_plan = [qty - first]
            order.fill_at = time.monotonic() + self.fill_delay_s
        elif mode == "partial_then_expire":
            first = (qty * self.partial_fraction).quantize(D(self.markets[sid].step))
            self._fill(order, first)
            order.status = "EXPIRED"
        else:  # delayed
            order.fill_plan = [qty]
            order.fill_at = time.monotonic() + self.fill_delay_s
        return 200, self.order_json(order, full=True)

    def _fill(self, order: FakeOrder, qty: D) -> None:
        if qty <= 0:
            return
        m = self.markets[order.symbol]
        price = order.price if order.type == "LIMIT" and order.price else m.price
        value = qty * price
        in_base = self.base_fee_on_buy and order.side == "BUY"
        fee = qty * FEE_RATE if in_base else value * FEE_RATE
        order.executed += qty
        order.quote += value
        order.fills.append(
            {
                "price": str(price),
                "qty": str(qty),
                "commission": str(fee),
                "commissionAsset": m.base if in_base else m.quote,
                "tradeId": str(len(order.fills) + 1),
            }
        )
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        sign = 1 if order.side == "BUY" else -1
        base_fee, quote_fee = (fee, D(0)) if in_base else (D(0), fee)
        self.balances[m.base] = self.balances.get(m.base, D(0)) + sign * qty - base_fee
        self.balances[m.quote] = self.balances.get(m.quote, D(0)) - sign * value - quote_fee

    def advance(self, order: FakeOrder) -> None:
        if (
            order.fill_at is not None
            and time.monotonic() >= order.fill_at
            and order.status in ("NEW", "PARTIALLY_FILLED")
        ):
            for part in order.fill_plan:
                self._fill(order, part)
            order.fill_plan = []
            order.fill_at = None

    def find(self, q: dict[str, str]) -> FakeOrder | None:
        cid = q.get("origClientOrderId")
        if cid is not None:
            order = self.orders.get(cid)
        else:
            oid = int(q.get("orderId", "0"))
            order = next((o for o in self.orders.values() if o.order_id == oid), None)
        if order is not None:
            self.advance(order)
        return order

    def cancel(self, q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        order = self.find(q)
        if order is None:
            return 400, {"code": -2011, "msg": "Unknown order sent."}
        if order.status in ("FILLED", "CANCELED", "EXPIRED", "REJECTED"):
            return 400, {"code": -2011, "msg": "Unknown order sent."}
        order.status = "CANCELED"
        order.fill_plan = []
        order.fill_at = None
        return 200, self.order_json(order)

    def order_json(self, o: FakeOrder, *, full: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": o.client_id,
            "transactTime": o.created_ms,
            "time": o.created_ms,
            "updateTime": now_ms(),
            "price": str(o.price or D(0)),
            "origQty": str(o.qty),
            "executedQty": str(o.executed),
            "cummulativeQuoteQty": str(o.quote),
            "status": o.status,
            "timeInForce": "GTC",
            "type": o.type,
            "side": o.side,
            "isWorking": True,
            "workingTime": o.created_ms,
            "origQuoteOrderQty": "0",
            "selfTradePreventionMode": "NONE",
        }
        if full:
            data["fills"] = list(o.fills)
        return data

    def my_trades(self, sid: str, order_id: str | None = None) -> list[dict[str, Any]]:
        out = []
        for o in self.orders.values():
            self.advance(o)
            if o.symbol != sid or (order_id is not None and str(o.order_id) != order_id):
                continue
            for f in o.fills:
                out.append(
                    {
                        "symbol": sid,
                        "id": int(f["tradeId"]) + o.order_id * 1000,
                        "orderId": o.order_id,
                        "orderListId": -1,
                        "price": f["price"],
                        "qty": f["qty"],
                        "quoteQty": str(D(f["price"]) * D(f["qty"])),
                        "commission": f["commission"],
                        "commissionAsset": f["commissionAsset"],
                        "time": o.created_ms,
                        "isBuyer": o.side == "BUY",
                        "isMaker": False,
                        "isBestMatch": True,
                    }
                )
        return out

    def state(self) -> dict[str, Any]:
        """Everything the crash test checks, as JSON."""
        return {
            "orders": {
                cid: {
                    "symbol": o.symbol,
                    "status": o.status,
                    "executed": str(o.executed),
                    "quote": str(o.quote),
                    "fills": list(o.fills),
                }
                for cid, o in self.orders.items()
            },
            "create_requests": list(self.create_requests),
            "balances": {k: str(v) for k, v in self.balances.items()},
        }

    def route(self, method: str, path: str, q: dict[str, str], headers: Any) -> tuple[int, Any]:
        self.requests.append((method, path))
        if self.scripts:
            self._tick_scripts()
        if path == "/fake/state":
            return 200, self.state()
        if path == "/fake/silence":
            self.silent_symbols = {s for s in q.get("symbols", "").split(",") if s}
            return 200, {"silent": sorted(self.silent_symbols)}
        if method == "GET" and path == "/api/v3/klines":
            return 200, self.klines(q)
        if path.startswith("/api/v3/") and path[8:] in PRIVATE:
            key = headers.get("X-MBX-APIKEY")
            if not key:
                return 401, {
                    "code": -2015,
                    "msg": "Invalid API-key, IP, or permissions for action.",
                }
            self.api_key_seen.add(key)
        if method == "GET" and path == "/api/v3/exchangeInfo":
            return 200, self.exchange_info()
        if method == "GET" and path == "/api/v3/time":
            return 200, {"serverTime": now_ms()}
        if method == "GET" and path == "/api/v3/ping":
            return 200, {}
        if method == "GET" and path in ("/api/v3/ticker/24hr", "/api/v3/ticker/bookTicker"):
            if "symbol" in q:
                return 200, self.ticker(q["symbol"])
            wanted = json.loads(q["symbols"]) if "symbols" in q else list(self.markets)
            return 200, [
                self.ticker(s) for s in wanted if s in self.markets and s not in self.silent_symbols
            ]
        if method == "GET" and path == "/api/v3/account":
            return 200, self.account()
        if method == "POST" and path == "/api/v3/order":
            return self.create_order(q)
        if method == "GET" and path == "/api/v3/order":
            order = self.find(q)
            if order is None:
                return 400, {"code": -2013, "msg": "Order does not exist."}
            return 200, self.order_json(order)
        if method == "DELETE" and path == "/api/v3/order":
            return self.cancel(q)
        if method == "GET" and path == "/api/v3/openOrders":
            for o in self.orders.values():
                self.advance(o)
            return 200, [
                self.order_json(o)
                for o in self.orders.values()
                if o.status in ("NEW", "PARTIALLY_FILLED")
                and ("symbol" not in q or o.symbol == q["symbol"])
            ]
        if method == "GET" and path == "/api/v3/myTrades":
            return 200, self.my_trades(q.get("symbol", ""), q.get("orderId"))
        return 404, {"code": -1100, "msg": f"no such endpoint in the fake: {method} {path}"}

    # -- websocket -------------------------------------------------------------------------

    async def serve_ws(
        self,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
        rate_hz: float = 20.0,
        slices: int = 1,
    ) -> None:
        """Serve combined streams until cancelled; `task_status` gets the ws base URL.

        Every stream gets `rate_hz` messages a second; `slices` spreads each round over
        that many evenly spaced sends (a burst of 500 messages is not how a feed arrives).
        """

        async def handler(request: WebSocketRequest) -> None:
            ws = await request.accept()
            self.ws_connections += 1
            query = dict(parse_qsl(urlsplit(request.path).query))
            streams = [s for s in query.get("streams", "").split("/") if s]
            self.ws_subscriptions.append(list(streams))
            rng = random.Random(self.ws_connections)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ws_control, ws, streams)
                try:
                    step = 1 / rate_hz / slices
                    due = trio.current_time()
                    while True:
                        for part in range(slices):
                            due = max(due + step, trio.current_time() - 1.0)
                            await trio.sleep_until(due)
                            if self.ws_silent:
                                continue
                            for stream in list(streams)[part::slices]:
                                self.ws_sent += 1
                                if (
                                    self.ws_drop_after is not None
                                    and self.ws_sent > self.ws_drop_after
                                ):
                                    self.ws_drop_after = None
                                    await ws.aclose()
                                    nursery.cancel_scope.cancel()
                                    return
                                if (
                                    self.ws_malformed_every
                                    and self.ws_sent % self.ws_malformed_every == 0
                                ):
                                    await ws.send_message('{"stream": "x", "data": {broken')
                                    continue
                                await ws.send_message(json.dumps(self.stream_message(stream, rng)))
                except ConnectionClosed:
                    nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: serve_websocket(
                    handler, "127.0.0.1", 0, ssl_context=None, task_status=task_status
                )
            )
            port = server.port
            task_status.started(f"ws://127.0.0.1:{port}")

    async def _ws_control(self, ws: Any, streams: list[str]) -> None:
        try:
            while True:
                message = await ws.get_message()
                try:
                    request = json.loads(message)
                except json.JSONDecodeError:
                    continue
                method, params = request.get("method"), request.get("params", [])
                if method == "SUBSCRIBE":
                    streams.extend(p for p in params if p not in streams)
                elif method == "UNSUBSCRIBE":
                    streams[:] = [s for s in streams if s not in params]
                self.ws_subscriptions.append(list(streams))
                await ws.send_message(json.dumps({"result": None, "id": request.get("id")}))
        except ConnectionClosed:
            return

    def stream_message(self, stream: str, rng: random.Random) -> dict[str, Any]:
        sid, _, kind = stream.partition("@")
        m = self.markets.get(sid.upper())
        price = m.price if m is not None else D(1)
        wiggle = D(1) + D(rng.randint(-20, 20)) / 10000
        p = (price * wiggle).quantize(D(m.tick if m else "0.01"))
        if kind == "bookTicker":
            data = {
                "u": self.ws_sent,
                "s": sid.upper(),
                "b": str(p),
                "B": "1.0",
                "a": str(p + D(m.tick if m else "0.01")),
                "A": "1.0",
            }
        else:
            data = {
                "e": "24hrMiniTicker",
                "E": now_ms(),
                "s": sid.upper(),
                "c": str(p),
                "o": str(price),
                "h": str(price),
                "l": str(price),
                "v": "1",
                "q": "1",
            }
        return {"stream": stream, "data": data}


PRIVATE = {"account", "order", "openOrders", "myTrades", "allOrders"}


def now_ms() -> int:
    return int(time.time() * 1000)


class _Handler(BaseHTTPRequestHandler):
    exchange: FakeBinance
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # silence
        return

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        q = dict(parse_qsl(parts.query))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            q.update(parse_qsl(self.rfile.read(length).decode()))
        fake = self.exchange
        with fake.lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            self._answer(fake, method, parts.path, q)
        finally:
            with fake.lock:
                fake.in_flight -= 1

    def _answer(self, fake: FakeBinance, method: str, path: str, q: dict[str, str]) -> None:
        with fake.lock:
            fault = fake.take_fault(method, path)
            status, body = 200, None
            if fault is None or fault.applied:
                status, body = fake.route(method, path, q, self.headers)
        if fault is not None:
            self._fault(fault)
            return
        self._send(status, json.dumps(body).encode())

    def _fault(self, fault: Fault) -> None:
        kind = fault.kind
        if kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if kind == "timeout":
            time.sleep(fault.delay)
            self._send(200, b"{}")
            return
        if kind == "malformed":
            self._send(200, b'{"symbol": "BTCUSDT", "orderId": ')
            return
        status = int(kind)
        codes = {429: -1003, 418: -1003, 500: -1001, 503: -1001}
        body = json.dumps({"code": codes.get(status, -1000), "msg": f"injected {status}"}).encode()
        headers = {"Retry-After": str(fault.retry_after)} if status in (429, 418) else {}
        self._send(status, body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


def sawtooth(when_s: float) -> D:
    """A second each of 70000, 67900 (3 % lower), 69100 and 71500: whatever price an
    order fills at, a later phase is past its take-profit or its stop-loss."""
    return (D("70000.00"), D("67900.00"), D("69100.00"), D("71500.00"))[int(when_s % 4.0)]


def main() -> None:
    """Serve a fake exchange with N symbols until killed; prints its REST and WS URLs."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--symbols", type=int, default=0, help="N synthetic USDT pairs")
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s per stream")
    parser.add_argument("--slices", type=int, default=50)
    parser.add_argument(
        "--sawtooth",
        action="store_true",
        help="BTCUSDT cycles 70000, 67900, 69100, 71500 (1 s each); mixed fills; buy fees in BTC",
    )
    args = parser.parse_args()
    markets = None
    if args.symbols:
        markets = {
            f"C{i:03d}USDT": Market(
                f"C{i:03d}", "USDT", D(100 + i), step="0.00100000", volume=D(10**6 + i)
            )
            for i in range(args.symbols)
        }
    fake = FakeBinance(markets)
    if args.sawtooth:
        fake.scripts["BTCUSDT"] = sawtooth
        fake.fill_mode = "mixed"
        fake.base_fee_on_buy = True
        fake.fill_delay_s = 0.4

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(
                lambda task_status: fake.serve_ws(
                    task_status=task_status, rate_hz=args.rate, slices=args.slices
                )
            )
            print(f"REST {fake.rest_url}", flush=True)
            print(f"WS {url}", flush=True)

    with fake:
        trio.run(serve)


if __name__ == "__main__":
    main()
