"""A fake Binance spot exchange on 127.0.0.1, as strict as Binance's spot API documentation.

REST: the subset ccxt's binance client uses (exchangeInfo, time, ticker/24hr, bookTicker,
account, order create/query/cancel, openOrders, allOrders, myTrades, klines), served by a
stdlib threading HTTP server. Websocket: combined streams (`/stream?streams=...`) with
SUBSCRIBE/UNSUBSCRIBE, served by trio-websocket inside the test's trio run.

Where Binance's documentation allows something surprising, the fake does it too:

- `newClientOrderId` is unique among *open* orders only: an id whose order is over is
  accepted again as a new, real order; an id in use by an open order gets -2010
  "Duplicate order sent.".
- HTTP 5xx and -1007 mean "execution status unknown": with `applied=True` the order was
  executed before the error answer, and it becomes visible to queries only `visible_s`
  later.
- Order queries lag order entry (the query is served "Memory => Database"): a new order
  is invisible to GET /order, DELETE /order, openOrders, allOrders and myTrades for
  `query_lag_s` (default 0.2 s), which answer as Binance does for an unknown order. The
  trade list lags on its own too: a trade shows in myTrades `trade_lag_s` (0.3 s) after
  it happened, while the order query may already say FILLED.
- Market orders may EXPIRE (fill_mode "expire", "partial_then_expire").
- Every response carries `X-MBX-USED-WEIGHT-1M`, the weight used in this minute.
- Signed requests: the HMAC-SHA256 signature is checked (-1022), and the timestamp must be
  within recvWindow of the server's clock and not 1,000 ms ahead of it (-1021). The
  server's clock can be set off (`clock_offset_ms`).
- LOT_SIZE, PRICE_FILTER and NOTIONAL are enforced (-1013 "Filter failure: ..."), and an
  order the free balance cannot pay is refused (-2010 insufficient balance): balances
  never go negative, and open orders lock what they may spend.
- 429 and 418 come with Retry-After; a 418 ban may be far longer than five minutes.
- Order lists (OCO, `POST /api/v3/orderList/oco`, SELL with a LIMIT_MAKER above and a
  STOP_LOSS or STOP_LOSS_LIMIT below): the price relationship is checked against the last
  price (LIMIT_MAKER price > last > stopPrice, else -2010 "The relationship of the prices
  for the orders is not correct."), a LIMIT_MAKER that would take at once against the bid
  is refused ("Order would immediately match and take."), `listClientOrderId` and each
  leg's id are unique among *open* lists and orders only. The legs work as the matching
  engine does when the price moves (`set_price`, or a script): the LIMIT_MAKER fills at
  its own price, the stop leg triggers at its stopPrice and then sells as a limit at its
  price (a price that gapped below the limit leaves it resting, unfilled); the first leg
  to execute, even in part (`leg_partial`), expires the other at once; the list is
  EXEC_STARTED / EXECUTING until every leg is over, then ALL_DONE. Canceling one leg
  cancels the list. List queries lag entry as order queries do.

- The WebSocket API's user data stream (`serve_ws_api`, `userDataStream.subscribe.signature`
  signed as a REST request, one subscription per connection): an executionReport for
  every order event (placed, each trade, canceled with the cancel's own id in "c" and
  the order's in "C", expired), `outboundAccountPosition` after each trade, `listStatus`
  for order lists. As Binance does, a market order's fill is on the socket before its
  REST answer leaves (`user_stream_first`); optionally every event twice
  (`user_stream_twice`), messages of the wrong shape between them
  (`user_stream_garbage`), a connection that drops (`user_stream_drop_after`), a
  subscription that ends with `eventStreamTerminated` (`expire_user_streams`).

Faults are queued with `inject()` and consumed by matching requests. Everything the
exchange did is kept for checks: every order, its fills, and every create request.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import random
import sys
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

from tests.fake_dust import DustDesk

D = Decimal
FEE_RATE = D("0.001")
OPEN = ("NEW", "PARTIALLY_FILLED")
DEFAULT_KEYS = {"key-1": "sec-2"}
# Request weights of Binance's spot API (its documentation, per endpoint).
WEIGHTS = {
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/ping"): 1,
    ("GET", "/api/v3/klines"): 2,
    ("GET", "/api/v3/ticker/24hr"): 80,
    ("GET", "/api/v3/ticker/bookTicker"): 4,
    ("GET", "/api/v3/account"): 20,
    ("POST", "/api/v3/order"): 1,
    ("GET", "/api/v3/order"): 4,
    ("DELETE", "/api/v3/order"): 1,
    ("GET", "/api/v3/openOrders"): 80,
    ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/api/v3/myTrades"): 20,
    ("POST", "/api/v3/orderList/oco"): 1,
    ("DELETE", "/api/v3/orderList"): 1,
    ("GET", "/api/v3/orderList"): 4,
    ("GET", "/api/v3/openOrderList"): 6,
}
SIGNED = {
    "account",
    "order",
    "openOrders",
    "myTrades",
    "allOrders",
    "orderList/oco",
    "orderList",
    "openOrderList",
}


@dataclass
class Fault:
    """One injected failure: `kind` for the next `count` requests matching method and path.

    kinds: 429, 418 (with Retry-After), 500, 502, 503 (a Binance error body), "-1007"
    (execution status unknown), "timeout" (answer after `delay` s), "drop" (close
    without answering), "malformed" (200 with broken JSON). `applied`: the request takes
    effect before the fault answers (an order placed, then its answer lost); such an
    order is visible to queries only `visible_s` later.
    """

    kind: str | int
    method: str = "*"
    path: str = ""
    count: int = 1
    retry_after: int = 1
    delay: float = 5.0
    applied: bool = False
    visible_s: float = 0.0


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
    visible_at: float  # time.monotonic() from which queries see it
    status: str = "NEW"
    executed: D = field(default_factory=D)
    quote: D = field(default_factory=D)
    fills: list[dict[str, Any]] = field(default_factory=list)
    # time.monotonic() from which each fill shows in the trade list (`trade_lag_s`).
    fills_visible_at: list[float] = field(default_factory=list)
    locked: D = field(default_factory=D)  # quote (buy) or base (sell) still locked
    # What remains to fill, and when (delayed fills).
    fill_at: float | None = None
    fill_plan: list[D] = field(default_factory=list)
    expire_rest: bool = False
    # A leg of an order list: the list's id, a stop leg's trigger, and whether it fired.
    list_id: int = -1
    stop_price: D | None = None
    triggered: bool = False


@dataclass
class FakeOrderList:
    """An OCO: its legs, below (the stop) first as Binance lists them."""

    list_id: int
    client_id: str
    symbol: str
    legs: list[FakeOrder]
    created_ms: int
    visible_at: float

    @property
    def done(self) -> bool:
        return all(leg.status not in OPEN for leg in self.legs)


@dataclass
class Market:
    base: str
    quote: str
    price: D
    step: str = "0.00001000"
    tick: str = "0.01000000"
    min_qty: str = "0.00001000"
    min_notional: str = "5.00000000"
    max_qty: str = "9000000.00000000"
    volume: D = field(default_factory=lambda: D(1_000_000))


class ApiError(Exception):
    """An error answer of the API: HTTP status and Binance's error body."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


# A subscription's channel that is full or closed: the event is dropped for it.
_GONE = (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError)


# What `user_stream_garbage` sends before each event: cut short, not JSON, an array, an
# event of wrong types ("SUB": the subscription's id).
GARBAGE = (
    '{"subscriptionId": SUB, "event": {"e": "executionRep',
    "not json at all",
    "[1, 2, 3]",
    '{"subscriptionId": SUB, "event": {"e": "executionReport", "X": "FILLED", "z": [1]}}',
)


@dataclass
class UserSub:
    """One user data stream subscription on a WebSocket API connection."""

    sub_id: int
    send: trio.MemorySendChannel[tuple[str, threading.Event | None]]
    active: bool = True


class FakeBinance:
    """State and behaviour of the fake exchange (REST side thread-safe under one lock)."""

    def __init__(
        self,
        markets: dict[str, Market] | None = None,
        balances: dict[str, str] | None = None,
        keys: dict[str, str] | None = None,
    ) -> None:
        self.markets = markets or {
            "BTCUSDT": Market("BTC", "USDT", D("70000.00")),
            "ETHUSDT": Market("ETH", "USDT", D("2000.00"), step="0.00010000"),
            "SOLUSDT": Market("SOL", "USDT", D("150.00"), step="0.00100000", volume=D(500_000)),
            "BTCUPUSDT": Market("BTCUP", "USDT", D("10.00"), step="0.01000000", volume=D(9e9)),
            "USDCUSDT": Market("USDC", "USDT", D("1.0000"), tick="0.00010000", volume=D(8e9)),
        }
        self.balances: dict[str, D] = {k: D(v) for k, v in (balances or {"USDT": "10000"}).items()}
        self.locked: dict[str, D] = {}
        self.keys = dict(keys or DEFAULT_KEYS)  # API key -> secret
        self.lock = threading.Lock()
        self.faults: deque[Fault] = deque()
        # The latest order of each client id (an id may be reused once its order is over).
        self.orders: dict[str, FakeOrder] = {}
        self.history: list[FakeOrder] = []  # every order ever accepted, in order
        # Order lists: the latest of each listClientOrderId, and every one ever accepted.
        self.order_lists: dict[str, FakeOrderList] = {}
        self.list_history: list[FakeOrderList] = []
        self.next_list_id = 1
        # The share of a leg the first match fills (the rest at a later match); 1: whole.
        self.leg_partial = D(1)
        self._matching = False  # pushing what resting legs did (see `match_lists`)
        # The best bid this far above the last price (a book that moved past the last
        # trade): a LIMIT_MAKER sell at or below it would take, and is refused.
        self.bid_over_last: D | None = None
        self.create_requests: list[str] = []  # client ids, in order, duplicates included
        self.requests: list[tuple[str, str]] = []
        self.arrivals: list[tuple[float, str, str]] = []  # (monotonic, method, path)
        self.active: dict[str, int] = {}  # requests being answered right now, by path
        self.next_order_id = 1
        self.fill_mode = "full"  # full | partial | delayed | reject | expire | mixed | ...
        self.fill_delay_s = 0.3
        self.partial_fraction = D("0.4")
        self.query_lag_s = 0.2
        # The trade list is served "Memory => Database" too, and lags on its own: a trade
        # shows there this long after it happened, while the order already says FILLED.
        self.trade_lag_s = 0.3
        # Random faults on order entry (the crash test): this share of creates fails.
        self.chaos = 0.0
        self.chaos_rng = random.Random(11)
        self.clock_offset_ms = 0
        self.api_key_seen: set[str] = set()
        self.silent_symbols: set[str] = set()  # tickers of these are not served
        # A price path by symbol (wall seconds -> price), replacing the fixed prices.
        self.scripts: dict[str, Callable[[float], D]] = {}
        self.fill_rng = random.Random(7)
        # Binance's default: the commission of a buy is taken from the coin bought.
        self.base_fee_on_buy = False
        # "Use BNB to pay for fees": the commission, 25% off, is taken in BNB at the
        # BNBUSDT price while the BNB balance covers it; otherwise as usual.
        self.bnb_fees = False
        self.weight_minute = -1
        self.weight_used = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # websocket side
        self.ws_connections = 0
        self.ws_malformed_every = 0
        self.ws_drop_after: int | None = None
        # After this many messages, Binance's serverShutdown event (the connection stays
        # open a while, as Binance's does, before it closes).
        self.ws_shutdown_after: int | None = None
        self.ws_silent = False
        # Benchmarks only: each message's data carries its send time ("bench_ts", seconds
        # since the epoch), so the receiver can measure how far behind it is.
        self.ws_stamp = False
        self.ws_sent = 0
        self.ws_subscriptions: list[list[str]] = []
        # WebSocket API (`serve_ws_api`): the user data stream's subscriptions.
        self.user_subs: list[UserSub] = []
        self.user_sub_ids = 0
        # Binance pushes an order's executionReport as it happens: for a market order
        # that fills at once, before the REST answer. With `user_stream_first`, the REST
        # answer waits until the events are on the socket, and `user_stream_lead_s` more.
        self.user_stream_first = True
        self.user_stream_lead_s = 0.05
        self.user_stream_twice = False  # every event sent twice (a duplicate)
        self.user_stream_garbage = False  # messages of the wrong shape before each event
        self.user_stream_drop_after: int | None = None  # close after this many events
        self.user_stream_refuse: tuple[int, str] | None = None  # refuse subscriptions
        self._ws_api_token: trio.lowlevel.TrioToken | None = None
        # "Convert small balances to BNB" (tests/fake_dust.py).
        self.dust = DustDesk(self)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Start the REST server (on `port`, any free one by default); returns its URL."""
        fake = self

        class Handler(_Handler):
            exchange = fake

        self._server = _Server(("127.0.0.1", port), Handler)
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

    def server_ms(self) -> int:
        return now_ms() + self.clock_offset_ms

    def price_at(self, sid: str, when_s: float) -> D:
        script = self.scripts.get(sid)
        return script(when_s) if script is not None else self.markets[sid].price

    def _tick_scripts(self) -> None:
        now = time.time()
        for sid in self.scripts:
            self.markets[sid].price = self.price_at(sid, now)

    def set_price(self, symbol_id: str, price: str) -> None:
        """The market trades at `price`: resting legs of order lists may execute."""
        with self.lock:
            self.markets[symbol_id].price = D(price)
            self.match_lists()

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in ("*", method) and path.startswith(fault.path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        if (
            self.chaos
            and (method, path) == ("POST", "/api/v3/order")
            and self.chaos_rng.random() < self.chaos
        ):
            kind = self.chaos_rng.choice([500, 502, 503, "-1007", "drop", "timeout"])
            return Fault(
                kind,
                applied=self.chaos_rng.random() < 0.7,
                delay=3.0,
                visible_s=self.chaos_rng.uniform(0, 1.0),
            )
        return None

    def place(
        self, client_id: str, quantity: str = "0.00100", side: str = "BUY", symbol: str = "BTCUSDT"
    ) -> FakeOrder:
        """A market order placed on the account by someone (not through the API's checks of
        signature and clock): what a test sets up as already on the exchange."""
        with self.lock:
            self.create_order(
                {
                    "symbol": symbol,
                    "side": side,
                    "type": "MARKET",
                    "quantity": quantity,
                    "newClientOrderId": client_id,
                }
            )
            return self.orders[client_id]

    def orders_of(self, cid: str) -> list[FakeOrder]:
        """Every order ever accepted with this client id (more than one: it was reused)."""
        return [o for o in self.history if o.client_id == cid]

    # -- requests: weight, signature, clock ------------------------------------------------

    def spend_weight(self, method: str, path: str, q: dict[str, str]) -> None:
        minute = self.server_ms() // 60_000
        if minute != self.weight_minute:
            self.weight_minute, self.weight_used = minute, 0
        weight = WEIGHTS.get((method, path), 1)
        if path in ("/api/v3/ticker/24hr", "/api/v3/ticker/bookTicker") and "symbol" in q:
            weight = 2
        elif path == "/api/v3/ticker/24hr" and "symbols" in q:
            count = len(json.loads(q["symbols"]))
            weight = 2 if count <= 20 else 40 if count <= 100 else 80
        if path == "/api/v3/openOrders" and "symbol" in q:
            weight = 6
        self.weight_used += weight

    def check_signed(self, raw: str, q: dict[str, str], headers: Any) -> None:
        """Binance's SIGNED endpoint security: key, signature, timestamp within recvWindow."""
        key = headers.get("X-MBX-APIKEY")
        secret = self.keys.get(key or "")
        if secret is None:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        self.api_key_seen.add(key)
        payload, sep, signature = raw.rpartition("&signature=")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not sep or not hmac.compare_digest(signature, expected):
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        try:
            timestamp = int(q["timestamp"])
            window = int(q.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            raise ApiError(400, -1102, "Mandatory parameter 'timestamp' was not sent.") from None
        server = self.server_ms()
        if timestamp >= server + 1000:
            raise ApiError(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if server - timestamp > min(window, 60_000):
            raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    # -- market data -------------------------------------------------------------------------

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
                            "maxQty": m.max_qty,
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
            "serverTime": self.server_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                }
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def best_bid(self, sid: str) -> D:
        m = self.markets[sid]
        if self.bid_over_last is not None:
            return m.price + self.bid_over_last
        return m.price - (m.price * D("0.0001")).quantize(D(m.tick))

    def ticker(self, sid: str) -> dict[str, Any]:
        m = self.markets[sid]
        p = m.price
        half = (p * D("0.0001")).quantize(D(m.tick))
        bid = self.best_bid(sid)
        return {
            "symbol": sid,
            "priceChange": "0",
            "priceChangePercent": "0",
            "weightedAvgPrice": str(p),
            "prevClosePrice": str(p),
            "lastPrice": str(p),
            "lastQty": "1",
            "bidPrice": str(bid),
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

    # -- account and orders ------------------------------------------------------------------

    def account(self) -> dict[str, Any]:
        assets = sorted(set(self.balances) | set(self.locked))
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "updateTime": self.server_ms(),
            "accountType": "SPOT",
            "permissions": ["SPOT"],
            "balances": [
                {
                    "asset": a,
                    "free": str(self.balances.get(a, D(0))),
                    "locked": str(self.locked.get(a, D(0))),
                }
                for a in assets
            ],
        }

    def _move(self, book: dict[str, D], asset: str, amount: D) -> None:
        book[asset] = book.get(asset, D(0)) + amount
        assert book[asset] >= 0, f"{asset} went negative: {book[asset]}"

    def _check_filters(self, m: Market, qty: D, price: D | None, order_type: str) -> None:
        step, min_qty = D(m.step), D(m.min_qty)
        if qty < min_qty or qty > D(m.max_qty) or (qty - min_qty) % step != 0:
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if order_type == "LIMIT":
            tick = D(m.tick)
            if price is None or price < tick or (price - tick) % tick != 0:
                raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        if qty * (price if order_type == "LIMIT" and price else m.price) < D(m.min_notional):
            raise ApiError(400, -1013, "Filter failure: NOTIONAL")

    def create_order(self, q: dict[str, str], fault: Fault | None = None) -> dict[str, Any]:
        """POST /api/v3/order. Raises ApiError for what Binance refuses."""
        cid = q.get("newClientOrderId") or f"x-{self.next_order_id}"
        self.create_requests.append(cid)
        sid = q.get("symbol", "")
        m = self.markets.get(sid)
        if m is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        previous = self.orders.get(cid)
        if previous is not None and previous.status in OPEN:
            raise ApiError(400, -2010, "Duplicate order sent.")
        if self.fill_mode == "reject":
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        side, order_type = q["side"], q["type"]
        try:
            qty = D(q["quantity"])
            price = D(q["price"]) if "price" in q else None
        except (KeyError, ArithmeticError):
            raise ApiError(400, -1100, "Illegal characters found in parameter.") from None
        self._check_filters(m, qty, price, order_type)
        at = price if order_type == "LIMIT" and price else m.price
        if side == "BUY":
            need, asset = qty * at * (1 + FEE_RATE), m.quote
        else:
            need, asset = qty, m.base
        if self.balances.get(asset, D(0)) < need:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        self._move(self.balances, asset, -need)
        self._move(self.locked, asset, need)
        visible_s = self.query_lag_s + (fault.visible_s if fault is not None else 0.0)
        order = FakeOrder(
            sid,
            self.next_order_id,
            cid,
            side,
            order_type,
            qty,
            price,
            self.server_ms(),
            time.monotonic() + visible_s,
            locked=need,
        )
        self.next_order_id += 1
        self.orders[cid] = order
        self.history.append(order)
        self.push_report(order, "NEW")
        mode = self.fill_mode
        if mode == "mixed":
            mode = self.fill_rng.choice(
                ["full", "partial", "delayed", "delayed", "expire", "partial_then_expire"]
            )
        if mode == "full":
            self._fill(order, qty)
        elif mode == "partial":
            first = (qty * self.partial_fraction).quantize(D(m.step))
            self._fill(order, first)
            order.fill_plan = [qty - first]
            order.fill_at = time.monotonic() + self.fill_delay_s
        elif mode in ("expire", "partial_then_expire"):
            # A market order the book could not fill: what was matched stays, the rest
            # expires (Binance's EXPIRED).
            if mode == "partial_then_expire":
                self._fill(order, (qty * self.partial_fraction).quantize(D(m.step)))
            self._end(order, "EXPIRED")
        else:  # delayed
            order.fill_plan = [qty]
            order.fill_at = time.monotonic() + self.fill_delay_s
        return self.order_json(order, full=True)

    def _fill(self, order: FakeOrder, qty: D, at: D | None = None) -> None:
        if qty <= 0:
            return
        m = self.markets[order.symbol]
        price = order.price if order.type == "LIMIT" and order.price else m.price
        if at is not None:
            price = at
        value = qty * price
        in_base = self.base_fee_on_buy and order.side == "BUY"
        fee = qty * FEE_RATE if in_base else value * FEE_RATE
        fee_asset = m.base if in_base else m.quote
        bnb = self.markets.get(f"BNB{m.quote}")
        if self.bnb_fees and bnb is not None and m.base != "BNB":
            in_bnb = (value * FEE_RATE * D("0.75") / bnb.price).quantize(D("0.00000001"))
            if self.balances.get("BNB", D(0)) >= in_bnb:
                self._move(self.balances, "BNB", -in_bnb)
                in_base, fee, fee_asset = False, in_bnb, "BNB"
        quote_fee = fee if fee_asset == m.quote else D(0)
        if order.side == "BUY":
            spend = value + quote_fee
            if spend > order.locked + self.balances.get(m.quote, D(0)):
                # The price moved beyond what the account can pay: the rest expires.
                if fee_asset == "BNB":
                    self._move(self.balances, "BNB", fee)
                self._end(order, "EXPIRED")
                return
            from_locked = min(spend, order.locked)
            self._move(self.locked, m.quote, -from_locked)
            order.locked -= from_locked
            self._move(self.balances, m.quote, -(spend - from_locked))
            self._move(self.balances, m.base, qty - (fee if in_base else D(0)))
        else:
            self._move(self.locked, m.base, -qty)
            order.locked -= qty
            self._move(self.balances, m.quote, value - quote_fee)
        order.executed += qty
        order.quote += value
        order.fills.append(
            {
                "price": str(price),
                "qty": str(qty),
                "commission": str(fee),
                "commissionAsset": fee_asset,
                "tradeId": len(order.fills) + 1,
                "time": self.server_ms(),
            }
        )
        order.fills_visible_at.append(time.monotonic() + self.trade_lag_s)
        if order.executed >= order.qty:
            self._end(order, "FILLED")
        else:
            order.status = "PARTIALLY_FILLED"
        self.push_report(order, "TRADE", order.fills[-1])

    def _end(self, order: FakeOrder, status: str) -> None:
        """The order is over: what it still locks goes back to free."""
        m = self.markets[order.symbol]
        asset = m.quote if order.side == "BUY" else m.base
        if order.locked:
            self._move(self.locked, asset, -order.locked)
            self._move(self.balances, asset, order.locked)
            order.locked = D(0)
        order.status = status
        order.fill_plan = []
        order.fill_at = None
        if status != "FILLED":  # a fill's own report says FILLED
            self.push_report(order, status)

    def advance(self, order: FakeOrder) -> None:
        if order.fill_at is not None and time.monotonic() >= order.fill_at and order.status in OPEN:
            for part in order.fill_plan:
                if order.status in OPEN:
                    self._fill(order, part)
            order.fill_plan = []
            order.fill_at = None

    def advance_all(self) -> None:
        for order in self.history:
            self.advance(order)

    def visible(self, order: FakeOrder) -> bool:
        return time.monotonic() >= order.visible_at

    def find(self, q: dict[str, str]) -> FakeOrder | None:
        """The order a query names, as the query can see it (None: not yet, or never)."""
        self.advance_all()
        cid = q.get("origClientOrderId")
        if cid is not None:
            order = self.orders.get(cid)
        else:
            oid = int(q.get("orderId", "0"))
            order = next((o for o in self.history if o.order_id == oid), None)
        if order is None or not self.visible(order) or order.symbol != q.get("symbol"):
            return None
        return order

    def cancel(self, q: dict[str, str]) -> dict[str, Any]:
        order = self.find(q)
        if order is None or order.status not in OPEN:
            raise ApiError(400, -2011, "Unknown order sent.")
        if order.list_id >= 0:  # canceling one leg cancels the whole list
            listed = next(x for x in self.list_history if x.list_id == order.list_id)
            self._cancel_list(listed)
            return self.order_json(order)
        self._end(order, "CANCELED")
        return self.order_json(order)

    def order_json(self, o: FakeOrder, *, full: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": o.list_id,
            "clientOrderId": o.client_id,
            "transactTime": o.created_ms,
            "time": o.created_ms,
            "updateTime": self.server_ms(),
            "price": str(o.price or D(0)),
            "origQty": str(o.qty),
            "executedQty": str(o.executed),
            "cummulativeQuoteQty": str(o.quote),
            "status": o.status,
            "timeInForce": "GTC",
            "type": o.type,
            "side": o.side,
            "isWorking": o.stop_price is None or o.triggered,
            "workingTime": o.created_ms if o.stop_price is None or o.triggered else -1,
            "origQuoteOrderQty": "0",
            "selfTradePreventionMode": "NONE",
        }
        if o.stop_price is not None:
            data["stopPrice"] = str(o.stop_price)
        if full:
            data["fills"] = [{k: v for k, v in f.items() if k != "time"} for f in o.fills]
        return data

    # -- order lists (OCO) -----------------------------------------------------------------

    def create_oco(self, q: dict[str, str], fault: Fault | None = None) -> dict[str, Any]:
        """POST /api/v3/orderList/oco: a SELL with a LIMIT_MAKER above and a STOP_LOSS or
        STOP_LOSS_LIMIT below (what the bot places). Raises ApiError as Binance refuses."""
        sid = q.get("symbol", "")
        m = self.markets.get(sid)
        if m is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        for name in ("side", "quantity", "aboveType", "belowType"):
            if name not in q:
                raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent.")
        side, above_type, below_type = q["side"], q["aboveType"], q["belowType"]
        if (
            side != "SELL"
            or above_type != "LIMIT_MAKER"
            or below_type
            not in (
                "STOP_LOSS",
                "STOP_LOSS_LIMIT",
            )
        ):
            raise ApiError(400, -1158, "Order type not supported in OCO.")
        if below_type == "STOP_LOSS_LIMIT" and q.get("belowTimeInForce") != "GTC":
            raise ApiError(400, -1102, "Mandatory parameter 'belowTimeInForce' was not sent.")
        try:
            qty = D(q["quantity"])
            above_price = D(q["abovePrice"])
            stop = D(q["belowStopPrice"])
            below_price = D(q["belowPrice"]) if below_type == "STOP_LOSS_LIMIT" else None
        except (KeyError, ArithmeticError):
            raise ApiError(400, -1100, "Illegal characters found in parameter.") from None
        ids = {
            "list": q.get("listClientOrderId") or f"list-{self.next_list_id}",
            "above": q.get("aboveClientOrderId") or f"x-{self.next_order_id}",
            "below": q.get("belowClientOrderId") or f"x-{self.next_order_id + 1}",
        }
        self.create_requests.append(ids["list"])
        earlier = self.order_lists.get(ids["list"])
        if earlier is not None and not earlier.done:
            raise ApiError(400, -2010, "Duplicate order sent.")
        for key in ("above", "below"):
            previous = self.orders.get(ids[key])
            if previous is not None and previous.status in OPEN:
                raise ApiError(400, -2010, "Duplicate order sent.")
        for price in (above_price, stop, below_price):
            if price is not None:
                self._check_filters(m, qty, price, "LIMIT")
        if not above_price > m.price > stop:
            raise ApiError(
                400, -2010, "The relationship of the prices for the orders is not correct."
            )
        if above_price <= self.best_bid(sid):
            raise ApiError(400, -2010, "Order would immediately match and take.")
        if self.balances.get(m.base, D(0)) < qty:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        # Both legs sell the same coins: they are locked once (held by the working leg).
        self._move(self.balances, m.base, -qty)
        self._move(self.locked, m.base, qty)
        visible_at = time.monotonic() + self.query_lag_s + (fault.visible_s if fault else 0.0)
        created = self.server_ms()
        list_id = self.next_list_id
        self.next_list_id += 1
        below = FakeOrder(
            sid,
            self.next_order_id,
            ids["below"],
            "SELL",
            below_type,
            qty,
            below_price,
            created,
            visible_at,
            list_id=list_id,
            stop_price=stop,
        )
        above = FakeOrder(
            sid,
            self.next_order_id + 1,
            ids["above"],
            "SELL",
            "LIMIT_MAKER",
            qty,
            above_price,
            created,
            visible_at,
            locked=qty,
            list_id=list_id,
        )
        self.next_order_id += 2
        for leg in (below, above):
            self.orders[leg.client_id] = leg
            self.history.append(leg)
        listed = FakeOrderList(list_id, ids["list"], sid, [below, above], created, visible_at)
        self.order_lists[listed.client_id] = listed
        self.list_history.append(listed)
        for leg in (below, above):
            self.push_report(leg, "NEW")
        self.push_list(listed)
        return self.list_json(listed, reports=True)

    def match_lists(self) -> None:
        """What the matching engine does to resting legs at the market's last price (its
        events are pushed without waiting: no REST answer of theirs is held back)."""
        self._matching = True
        try:
            self._match_lists()
        finally:
            self._matching = False

    def _match_lists(self) -> None:
        for listed in self.list_history:
            if listed.done:
                continue
            price = self.markets[listed.symbol].price
            below, above = listed.legs
            if above.status in OPEN and price >= (above.price or D(0)):
                self._execute_leg(listed, above, above.price)
            elif below.status in OPEN:
                just_now = False
                if not below.triggered and price <= (below.stop_price or D(0)):
                    below.triggered = just_now = True
                    self._expire_other(listed, below)
                if below.triggered:
                    if below.type == "STOP_LOSS":
                        self._execute_leg(listed, below, price)
                    elif price >= (below.price or D(0)):
                        # Triggered now: it takes at the market; resting since: it is met
                        # at its own price.
                        self._execute_leg(listed, below, price if just_now else below.price)

    def _execute_leg(self, listed: FakeOrderList, leg: FakeOrder, at: D | None) -> None:
        self._expire_other(listed, leg)
        rest = leg.qty - leg.executed
        step = D(self.markets[leg.symbol].step)
        part = (
            rest
            if self.leg_partial >= 1 or leg.executed
            else ((leg.qty * self.leg_partial).quantize(step))
        )
        self._fill(leg, min(part, rest), at)
        if listed.done:
            self.push_list(listed)

    def _expire_other(self, listed: FakeOrderList, working: FakeOrder) -> None:
        """One leg executes (or triggers): the other expires, and what it locked now
        belongs to the working leg."""
        for leg in listed.legs:
            if leg is not working and leg.status in OPEN:
                working.locked += leg.locked
                leg.locked = D(0)
                leg.status = "EXPIRED"
                leg.fill_plan, leg.fill_at = [], None
                self.push_report(leg, "EXPIRED")

    def _cancel_list(self, listed: FakeOrderList) -> None:
        for leg in listed.legs:
            if leg.status in OPEN:
                self._end(leg, "CANCELED")
        self.push_list(listed)

    def push_list(self, listed: FakeOrderList) -> None:
        """A listStatus event of `listed` to every active subscription (Binance's fields)."""
        if not self.user_subs:
            return
        done = listed.done
        event = {
            "e": "listStatus",
            "E": self.server_ms(),
            "s": listed.symbol,
            "g": listed.list_id,
            "c": "OCO",
            "l": "ALL_DONE" if done else "EXEC_STARTED",
            "L": "ALL_DONE" if done else "EXECUTING",
            "r": "NONE",
            "C": listed.client_id,
            "T": self.server_ms(),
            "O": [{"s": leg.symbol, "i": leg.order_id, "c": leg.client_id} for leg in listed.legs],
        }
        self._broadcast([event])

    def visible_list(self, listed: FakeOrderList) -> bool:
        return time.monotonic() >= listed.visible_at

    def find_list(self, q: dict[str, str]) -> FakeOrderList | None:
        """The list a query names, as a query can see it (lists lag as orders do)."""
        self.match_lists()
        if "orderListId" in q:
            list_id = int(q["orderListId"])
            listed = next((x for x in self.list_history if x.list_id == list_id), None)
            cid = q.get("listClientOrderId") or q.get("origClientOrderId")
            if listed is not None and cid is not None and listed.client_id != cid:
                return None
        else:
            cid = q.get("listClientOrderId") or q.get("origClientOrderId") or ""
            listed = self.order_lists.get(cid)
        if listed is None or not self.visible_list(listed):
            return None
        return listed

    def cancel_list(self, q: dict[str, str]) -> dict[str, Any]:
        """DELETE /api/v3/orderList."""
        if "orderListId" not in q and "listClientOrderId" not in q:
            raise ApiError(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderListId' must be sent, but both "
                "were empty/null!",
            )
        listed = self.find_list(q)
        if listed is None or listed.symbol != q.get("symbol") or listed.done:
            raise ApiError(400, -2011, "Unknown order sent.")
        self._cancel_list(listed)
        return self.list_json(listed, reports=True)

    def list_json(self, listed: FakeOrderList, *, reports: bool = False) -> dict[str, Any]:
        done = listed.done
        data: dict[str, Any] = {
            "orderListId": listed.list_id,
            "contingencyType": "OCO",
            "listStatusType": "ALL_DONE" if done else "EXEC_STARTED",
            "listOrderStatus": "ALL_DONE" if done else "EXECUTING",
            "listClientOrderId": listed.client_id,
            "transactionTime": listed.created_ms,
            "symbol": listed.symbol,
            "orders": [
                {"symbol": leg.symbol, "orderId": leg.order_id, "clientOrderId": leg.client_id}
                for leg in listed.legs
            ],
        }
        if reports:
            data["orderReports"] = [self.order_json(leg) for leg in listed.legs]
        return data

    def all_orders(self, q: dict[str, str]) -> list[dict[str, Any]]:
        """GET /api/v3/allOrders: the symbol's most recent orders (or from startTime on)."""
        sid = q.get("symbol")
        if sid not in self.markets:
            raise ApiError(400, -1121, "Invalid symbol.")
        self.advance_all()
        limit = min(int(q.get("limit", "500")), 1000)
        seen = [o for o in self.history if o.symbol == sid and self.visible(o)]
        if "startTime" in q:
            seen = [o for o in seen if o.created_ms >= int(q["startTime"])][:limit]
        else:
            seen = seen[-limit:]
        return [self.order_json(o) for o in seen]

    def my_trades(self, q: dict[str, str]) -> list[dict[str, Any]]:
        sid = q.get("symbol", "")
        order_id = q.get("orderId")
        start = int(q.get("startTime", "0"))
        self.advance_all()
        out = []
        for o in self.history:
            if o.symbol != sid or not self.visible(o):
                continue
            if order_id is not None and str(o.order_id) != order_id:
                continue
            now = time.monotonic()
            for f, shown_at in zip(o.fills, o.fills_visible_at, strict=True):
                if f["time"] < start or now < shown_at:
                    continue
                out.append(
                    {
                        "symbol": sid,
                        "id": int(f["tradeId"]) + o.order_id * 1000,
                        "orderId": o.order_id,
                        "orderListId": o.list_id,
                        "price": f["price"],
                        "qty": f["qty"],
                        "quoteQty": str(D(f["price"]) * D(f["qty"])),
                        "commission": f["commission"],
                        "commissionAsset": f["commissionAsset"],
                        "time": f["time"],
                        "isBuyer": o.side == "BUY",
                        "isMaker": o.type == "LIMIT_MAKER"
                        or (o.stop_price is not None and D(f["price"]) == o.price),
                        "isBestMatch": True,
                    }
                )
        return out

    def state(self) -> dict[str, Any]:
        """Everything the crash test checks, as JSON."""
        self.advance_all()
        return {
            "orders": [
                {
                    "client_id": o.client_id,
                    "order_id": o.order_id,
                    "symbol": o.symbol,
                    "status": o.status,
                    "executed": str(o.executed),
                    "quote": str(o.quote),
                    "fills": list(o.fills),
                }
                for o in self.history
            ],
            "create_requests": list(self.create_requests),
            "lists": [
                {
                    "client_id": x.client_id,
                    "done": x.done,
                    "legs": [leg.client_id for leg in x.legs],
                    "qty": str(x.legs[0].qty),
                }
                for x in self.list_history
            ],
            "balances": {k: str(v) for k, v in self.balances.items()},
            "locked": {k: str(v) for k, v in self.locked.items()},
            "in_flight": self.in_flight,
        }

    def route(
        self, method: str, path: str, q: dict[str, str], raw: str, headers: Any, fault: Fault | None
    ) -> tuple[int, Any]:
        if self.scripts:
            self._tick_scripts()
        self.match_lists()
        if path == "/fake/state":
            return 200, self.state()
        if path == "/fake/silence":
            self.silent_symbols = {s for s in q.get("symbols", "").split(",") if s}
            return 200, {"silent": sorted(self.silent_symbols)}
        self.spend_weight(method, path, q)
        try:
            if path.startswith("/sapi/"):  # every wallet endpoint is SIGNED
                self.check_signed(raw, q, headers)
                return 200, self.dust.route(method, path, raw)
            if path.startswith("/api/v3/") and path[8:] in SIGNED:
                self.check_signed(raw, q, headers)
            return 200, self._api(method, path, q, fault)
        except ApiError as exc:
            return exc.status, {"code": exc.code, "msg": exc.msg}

    def _api(self, method: str, path: str, q: dict[str, str], fault: Fault | None) -> Any:
        if method == "GET" and path == "/api/v3/klines":
            return self.klines(q)
        if method == "GET" and path == "/api/v3/exchangeInfo":
            return self.exchange_info()
        if method == "GET" and path == "/api/v3/time":
            return {"serverTime": self.server_ms()}
        if method == "GET" and path == "/api/v3/ping":
            return {}
        if method == "GET" and path in ("/api/v3/ticker/24hr", "/api/v3/ticker/bookTicker"):
            if "symbol" in q:
                return self.ticker(q["symbol"])
            wanted = json.loads(q["symbols"]) if "symbols" in q else list(self.markets)
            return [
                self.ticker(s) for s in wanted if s in self.markets and s not in self.silent_symbols
            ]
        if method == "GET" and path == "/api/v3/account":
            return self.account()
        if method == "POST" and path == "/api/v3/order":
            return self.create_order(q, fault)
        if method == "GET" and path == "/api/v3/order":
            order = self.find(q)
            if order is None:
                raise ApiError(400, -2013, "Order does not exist.")
            return self.order_json(order)
        if method == "DELETE" and path == "/api/v3/order":
            return self.cancel(q)
        if method == "GET" and path == "/api/v3/openOrders":
            self.advance_all()
            return [
                self.order_json(o)
                for o in self.orders.values()
                if o.status in OPEN
                and self.visible(o)
                and ("symbol" not in q or o.symbol == q["symbol"])
            ]
        if method == "GET" and path == "/api/v3/allOrders":
            return self.all_orders(q)
        if method == "GET" and path == "/api/v3/myTrades":
            return self.my_trades(q)
        if method == "POST" and path == "/api/v3/orderList/oco":
            return self.create_oco(q, fault)
        if method == "DELETE" and path == "/api/v3/orderList":
            return self.cancel_list(q)
        if method == "GET" and path == "/api/v3/orderList":
            listed = self.find_list(q)
            if listed is None:
                raise ApiError(400, -2013, "Order list does not exist.")
            return self.list_json(listed)
        if method == "GET" and path == "/api/v3/openOrderList":
            self.match_lists()
            return [
                self.list_json(x)
                for x in self.order_lists.values()
                if not x.done and self.visible_list(x)
            ]
        raise ApiError(404, -1100, f"no such endpoint in the fake: {method} {path}")

    # -- websocket -------------------------------------------------------------------------

    # -- the WebSocket API's user data stream ------------------------------------------------

    def push_report(
        self, order: FakeOrder, execution: str, fill: dict[str, Any] | None = None
    ) -> None:
        """An executionReport of `order` to every active subscription (Binance's fields).

        Called by the REST side (its threads, under the lock) or by the trio side."""
        if not self.user_subs:
            return
        cancel_id = f"web_{self.next_order_id}" if execution == "CANCELED" else ""
        event = {
            "e": "executionReport",
            "E": self.server_ms(),
            "s": order.symbol,
            "c": cancel_id or order.client_id,
            "S": order.side,
            "o": order.type,
            "f": "GTC",
            "q": str(order.qty),
            "p": str(order.price or 0),
            "P": str(order.stop_price or 0),
            "g": order.list_id,
            "C": order.client_id if cancel_id else "",
            "x": execution,
            "X": order.status,
            "r": "NONE",
            "i": order.order_id,
            "l": fill["qty"] if fill else "0",
            "z": str(order.executed),
            "L": fill["price"] if fill else "0",
            "n": fill["commission"] if fill else "0",
            "N": fill["commissionAsset"] if fill else None,
            "T": fill["time"] if fill else self.server_ms(),
            "t": fill["tradeId"] + order.order_id * 1000 if fill else -1,
            "w": order.status in OPEN,
            "m": False,
            "O": order.created_ms,
            "Z": str(order.quote),
            "Y": str(D(fill["qty"]) * D(fill["price"])) if fill else "0",
            "Q": "0",
        }
        events = [event]
        if fill is not None:  # Binance follows a trade with the balances it changed
            m = self.markets[order.symbol]
            events.append(
                {
                    "e": "outboundAccountPosition",
                    "E": self.server_ms(),
                    "u": self.server_ms(),
                    "B": [
                        {
                            "a": asset,
                            "f": str(self.balances.get(asset, D(0))),
                            "l": str(self.locked.get(asset, D(0))),
                        }
                        for asset in sorted({m.base, m.quote, fill["commissionAsset"]})
                    ],
                }
            )
        self._broadcast(events)

    def _broadcast(self, events: list[dict[str, Any]]) -> None:
        """`events` to every active subscription, in order (each after a message of the
        wrong shape with `user_stream_garbage`)."""
        for sub in list(self.user_subs):
            if sub.active:
                for event in events:
                    if self.user_stream_garbage:
                        for text in GARBAGE:
                            self._deliver(sub, text.replace("SUB", str(sub.sub_id)))
                    self._deliver(sub, {"subscriptionId": sub.sub_id, "event": event})

    def _deliver(self, sub: UserSub, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        copies = 2 if self.user_stream_twice else 1
        in_trio = True
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            in_trio = False
        for _ in range(copies):
            if in_trio or self._ws_api_token is None:
                with contextlib.suppress(*_GONE):
                    sub.send.send_nowait((text, None))
                continue
            sent = threading.Event() if self.user_stream_first and not self._matching else None

            def hand_over(message: tuple[str, threading.Event | None] = (text, sent)) -> None:
                with contextlib.suppress(*_GONE):
                    sub.send.send_nowait(message)

            try:  # never blocks: a trio side waiting for our lock would never take it
                self._ws_api_token.run_sync_soon(hand_over)
            except trio.RunFinishedError:
                return
            if sent is not None and sent.wait(2.0):
                time.sleep(self.user_stream_lead_s)

    def expire_user_streams(self) -> None:
        """Every subscription ends as Binance ends one: an eventStreamTerminated event,
        then nothing more until the client subscribes again (the connection stays)."""
        # No lock here: the trio side never waits for the REST side's lock, which a REST
        # thread may hold while it waits for the trio side to take an event.
        for sub in list(self.user_subs):
            if sub.active:
                event = {"e": "eventStreamTerminated", "E": self.server_ms()}
                self._deliver(sub, {"subscriptionId": sub.sub_id, "event": event})
                sub.active = False

    def _ws_api_request(self, text: str, subs: list[UserSub], send: Any) -> dict[str, Any]:
        """One WebSocket API request; the answer to send back."""
        try:
            request = json.loads(text)
        except json.JSONDecodeError:
            return {"id": None, "status": 400, "error": {"code": -1100, "msg": "Malformed."}}
        rid = request.get("id")
        method, params = request.get("method"), request.get("params") or {}

        def error(status: int, code: int, msg: str) -> dict[str, Any]:
            return {"id": rid, "status": status, "error": {"code": code, "msg": msg}}

        if method == "userDataStream.unsubscribe":
            for sub in subs:
                sub.active = False
            return {"id": rid, "status": 200, "result": {}}
        if method != "userDataStream.subscribe.signature":
            return error(400, -1100, f"Unknown method {method!r}.")
        if self.user_stream_refuse is not None:
            code, msg = self.user_stream_refuse
            return error(400, code, msg)
        key = params.get("apiKey")
        secret = self.keys.get(key) if isinstance(key, str) else None
        if secret is None:
            return error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signed = {k: v for k, v in params.items() if k != "signature"}
        payload = "&".join(f"{k}={signed[k]}" for k in sorted(signed))
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if params.get("signature") != expected:
            return error(400, -1022, "Signature for this request is not valid.")
        try:
            stamp = int(params.get("timestamp"))
        except (TypeError, ValueError):
            return error(400, -1102, "Mandatory parameter 'timestamp' was not sent.")
        window = int(params.get("recvWindow", 5000))
        if stamp > self.server_ms() + 1000 or self.server_ms() - stamp > window:
            return error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        if any(sub.active for sub in subs):  # one subscription per account and connection
            return error(400, -2034, "User Data Stream subscription already active.")
        self.user_sub_ids += 1  # the trio side alone changes the subscriptions
        sub = UserSub(self.user_sub_ids, send)
        subs.append(sub)
        self.user_subs.append(sub)
        return {"id": rid, "status": 200, "result": {"subscriptionId": sub.sub_id}}

    async def keep_filling(self, period_s: float = 0.05) -> None:
        """Fill delayed orders when they are due, whether a request looks or not (as the
        matching engine does), until cancelled."""
        while True:
            await trio.sleep(period_s)
            # Never blocking on the REST side's lock (see `expire_user_streams`).
            if self.lock.acquire(blocking=False):
                try:
                    self.advance_all()
                finally:
                    self.lock.release()

    async def serve_ws_api(
        self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve the WebSocket API's user data stream until cancelled; `task_status` gets
        its URL (`ws://127.0.0.1:<port>/ws-api/v3`)."""
        self._ws_api_token = trio.lowlevel.current_trio_token()

        async def handler(request: WebSocketRequest) -> None:
            ws = await request.accept()
            send, receive = trio.open_memory_channel[tuple[str, threading.Event | None]](1000)
            subs: list[UserSub] = []
            sent = 0

            async def pump() -> None:
                nonlocal sent
                async for text, done in receive:
                    if (
                        self.user_stream_drop_after is not None
                        and sent >= self.user_stream_drop_after
                    ):
                        self.user_stream_drop_after = None
                        await ws.aclose()
                        return
                    try:
                        await ws.send_message(text)
                    except ConnectionClosed:
                        return
                    sent += 1
                    if done is not None:
                        done.set()

            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(pump)
                    nursery.start_soon(self.keep_filling)  # pushed without a REST request
                    try:
                        while True:
                            text = await ws.get_message()
                            answer = self._ws_api_request(str(text), subs, send)
                            await ws.send_message(json.dumps(answer))
                    except ConnectionClosed:
                        pass
                    finally:
                        nursery.cancel_scope.cancel()
            finally:
                for sub in subs:
                    sub.active = False
                    if sub in self.user_subs:
                        self.user_subs.remove(sub)

        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: serve_websocket(
                    handler, "127.0.0.1", 0, ssl_context=None, task_status=task_status
                )
            )
            task_status.started(f"ws://127.0.0.1:{server.port}/ws-api/v3")

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
                                    self.ws_shutdown_after is not None
                                    and self.ws_sent > self.ws_shutdown_after
                                ):
                                    self.ws_shutdown_after = None
                                    shutdown = {"e": "serverShutdown", "E": now_ms()}
                                    await ws.send_message(
                                        json.dumps({"stream": "!serverShutdown", "data": shutdown})
                                    )
                                    continue
                                if (
                                    self.ws_malformed_every
                                    and self.ws_sent % self.ws_malformed_every == 0
                                ):
                                    await ws.send_message('{"stream": "x", "data": {broken')
                                    continue
                                message = self.stream_message(stream, rng)
                                if self.ws_stamp and isinstance(message["data"], dict):
                                    message["data"]["bench_ts"] = time.time()
                                await ws.send_message(json.dumps(message))
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
        if stream == "!miniTicker@arr":
            return {"stream": stream, "data": self.all_mini_tickers(rng)}
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

    def all_mini_tickers(self, rng: random.Random) -> list[dict[str, Any]]:
        """The all-market mini-ticker array as Binance sends it: every symbol of the
        exchange (not only the subscriber's), only those that changed since the last one
        (a quiet coin is missing from some arrays), and symbols the exchange lists but
        exchangeInfo no longer shows (a delisting) may appear too."""
        out = []
        for sid in self.markets:
            if rng.random() < 0.2:
                continue  # unchanged this second: not in the array
            out.append(self.stream_message(f"{sid.lower()}@miniTicker", rng)["data"])
        out.append(
            {**out[0], "s": "GONEUSDT"}
            if out
            else {"e": "24hrMiniTicker", "s": "GONEUSDT", "c": "1"}
        )
        rng.shuffle(out)
        return out


def now_ms() -> int:
    return int(time.time() * 1000)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a killed engine, a dropped connection) is no error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    exchange: FakeBinance
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # silence
        return

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        raw = parts.query
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length).decode()
            raw = f"{raw}&{body}" if raw else body
        q = dict(parse_qsl(raw))
        fake = self.exchange
        with fake.lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            fake.arrivals.append((time.monotonic(), method, parts.path))
            fake.active[parts.path] = fake.active.get(parts.path, 0) + 1
        try:
            self._answer(fake, method, parts.path, q, raw)
        finally:
            with fake.lock:
                fake.in_flight -= 1
                fake.active[parts.path] -= 1

    def _answer(
        self, fake: FakeBinance, method: str, path: str, q: dict[str, str], raw: str
    ) -> None:
        with fake.lock:
            fake.requests.append((method, path))  # every request, faulted ones included
            fault = fake.take_fault(method, path)
            status, body = 200, None
            if fault is None or fault.applied:
                status, body = fake.route(method, path, q, raw, self.headers, fault)
            weight = fake.weight_used
        headers = {"X-MBX-USED-WEIGHT-1M": str(weight)}
        if fault is not None:
            self._fault(fault, headers)
            return
        self._send(status, json.dumps(body).encode(), headers)

    def _fault(self, fault: Fault, headers: dict[str, str]) -> None:
        kind = fault.kind
        if kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if kind == "timeout":
            time.sleep(fault.delay)
            self._send(200, b"{}", headers)
            return
        if kind == "malformed":
            self._send(200, b'{"symbol": "BTCUSDT", "orderId": ', headers)
            return
        if kind == "-1007":
            body = {
                "code": -1007,
                "msg": "Timeout waiting for response from backend server. Send status unknown; "
                "execution status unknown.",
            }
            self._send(408, json.dumps(body).encode(), headers)
            return
        status = int(kind)
        codes = {429: -1003, 418: -1003, 500: -1001, 502: -1001, 503: -1001}
        body_bytes = json.dumps(
            {"code": codes.get(status, -1000), "msg": f"injected {status}"}
        ).encode()
        if status in (429, 418):
            headers = {**headers, "Retry-After": str(fault.retry_after)}
        self._send(status, body_bytes, headers)

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
    """Serve a fake exchange with N symbols until killed; prints its REST, WS (market
    streams) and WSAPI (user data stream) URLs, one a line."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--symbols", type=int, default=0, help="N synthetic USDT pairs")
    parser.add_argument("--port", type=int, default=0, help="REST port (default: any free one)")
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s per stream")
    parser.add_argument("--slices", type=int, default=50)
    parser.add_argument(
        "--stamp", action="store_true", help="add the send time to each message (benchmarks)"
    )
    parser.add_argument(
        "--sawtooth",
        action="store_true",
        help="BTCUSDT cycles 70000, 67900, 69100, 71500 (1 s each); mixed fills; buy fees in BTC",
    )
    parser.add_argument(
        "--phase-s", type=float, default=1.0, help="with --sawtooth: seconds each price holds"
    )
    parser.add_argument(
        "--chaos",
        type=float,
        default=0.0,
        help="share of order creates that fail (5xx, -1007, timeout, drop; mostly executed)",
    )
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY:SECRET",
        help="an API key and its secret (repeatable; default key-1:sec-2)",
    )
    parser.add_argument(
        "--stream-twice",
        action="store_true",
        help="the user data stream sends every event twice (duplicates)",
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
    keys = dict(k.split(":", 1) for k in args.key) or None
    fake = FakeBinance(markets, keys=keys)
    fake.chaos = args.chaos
    fake.ws_stamp = args.stamp
    fake.user_stream_twice = args.stream_twice
    if args.sawtooth:
        phase = args.phase_s
        fake.scripts["BTCUSDT"] = lambda when_s: sawtooth(when_s / phase)
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
            api_url = await nursery.start(fake.serve_ws_api)
            print(f"REST {fake.rest_url}", flush=True)
            print(f"WS {url}", flush=True)
            print(f"WSAPI {api_url}", flush=True)

    fake.start(args.port)
    try:
        trio.run(serve)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
