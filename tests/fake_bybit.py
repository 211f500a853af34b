"""A fake Bybit v5 (public spot) on 127.0.0.1, from Bybit's documentation: the websocket
stream, and the three REST calls a paper run makes before it (`/v5/market/instruments-info`,
`/v5/market/tickers`, `/v5/market/kline`, each with `category=spot`).

`/v5/public/spot` takes `{"op": "subscribe" | "unsubscribe", "args": [...], "req_id": ...}`
and answers each request as Bybit's spot does (`{"success": true, "ret_msg": "subscribe",
"conn_id": ..., "req_id": ..., "op": "subscribe"}`); more than 10 args in one request, or a
topic it does not know, is refused (`"success": false` and the reason). `{"op": "ping"}` is
answered `{"success": true, "ret_msg": "pong", "conn_id": ..., "op": "ping"}`. Subscribed
topics stream: `orderbook.1.<id>` level-1 snapshots (`s`, `b`, `a`, `u`, `seq`; `ts` before
`type`, as Bybit writes spot messages) and `tickers.<id>` snapshots (`lastPrice`).

As mean as the documentation allows:
- `ack_delay_s`: answers to subscriptions come late; `refuse`: topics refused;
- `pong`: False stops answering pings (the connection otherwise streams on);
- `close_after`: after this many data messages the server closes the connection (a
  restart for maintenance);
- `stale_every`: every n-th book message repeats an older update id (late, out of order);
  `restart_u`: the book's update ids start again at 1 (Bybit's service restarted);
- `malformed_every`: every n-th message is broken JSON;
- `one_sided`: books of these ids arrive with no asks.
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
ARGS_LIMIT = 10


class FakeBybit(RestFake):
    def __init__(self, prices: dict[str, str] | None = None) -> None:
        self.prices = {k: D(v) for k, v in (prices or {"BTCUSDT": "70000.00"}).items()}
        # The level of the candles `kline` serves (by default the current price).
        self.history_price: dict[str, D] = {}
        self.ack_delay_s = 0.0
        self.refuse: set[str] = set()
        self.pong = True
        self.close_after: int | None = None
        self.stale_every = 0
        self.restart_u = False
        self.malformed_every = 0
        self.one_sided: set[str] = set()
        self.connections = 0
        self.sent = 0
        self.pings = 0
        self.requests: list[dict[str, Any]] = []
        self.topics_by_connection: list[list[str]] = []
        self._u = 0

    # -- REST ------------------------------------------------------------------------------

    def rest_answer(self, path: str, q: dict[str, str]) -> tuple[int, dict[str, Any]]:
        now = int(time.time() * 1000)
        result: dict[str, Any]
        rows: list[Any]
        if path == "/v5/market/time":
            seconds = str(now // 1000)
            result = {"timeSecond": seconds, "timeNano": str(now * 1_000_000)}
            return 200, {"retCode": 0, "retMsg": "OK", "result": result, "time": now}
        if q.get("category") != "spot":
            return 200, {"retCode": 10001, "retMsg": "params error: category", "result": {}}
        if path == "/v5/market/instruments-info":
            rows = [
                {
                    "symbol": sid,
                    "baseCoin": sid[:-4],
                    "quoteCoin": "USDT",
                    "innovation": "0",
                    "status": "Trading",
                    "marginTrading": "none",
                    "lotSizeFilter": {
                        "basePrecision": "0.000001",
                        "quotePrecision": "0.00000001",
                        "minOrderQty": "0.000048",
                        "maxOrderQty": "71.73956243",
                        "minOrderAmt": "1",
                        "maxOrderAmt": "2000000",
                    },
                    "priceFilter": {"tickSize": "0.01"},
                }
                for sid in self.prices
            ]
            result = {"category": "spot", "list": rows, "nextPageCursor": ""}
        elif path == "/v5/market/tickers":
            rows = [
                {
                    "symbol": sid,
                    "bid1Price": str(p),
                    "bid1Size": "1",
                    "ask1Price": str(p + D("0.01")),
                    "ask1Size": "1",
                    "lastPrice": str(p),
                    "prevPrice24h": str(p),
                    "price24hPcnt": "0",
                    "highPrice24h": str(p),
                    "lowPrice24h": str(p),
                    "turnover24h": "1000000",
                    "volume24h": "100",
                }
                for sid, p in self.prices.items()
                if "symbol" not in q or q["symbol"] == sid
            ]
            result = {"category": "spot", "list": rows}
        elif path == "/v5/market/kline":
            sid, limit = q.get("symbol", ""), int(q.get("limit", "200"))
            level = self.history_price.get(sid, self.prices.get(sid, D(1)))
            start = int(q.get("start", str(now - limit * 60_000))) // 60_000 * 60_000
            stamps = [t for t in range(start, now - 60_000, 60_000)][:limit]
            rows = [[str(t), *[str(level)] * 4, "1", str(level)] for t in reversed(stamps)]
            result = {"symbol": sid, "category": "spot", "list": rows}
        else:
            return 404, {"retCode": 10404, "retMsg": f"no such path in the fake: {path}"}
        return 200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now}

    async def serve(
        self,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
        rate_hz: float = 20,
        slices: int = 1,
    ) -> None:
        """Serve until cancelled; `task_status` gets the spot stream's URL."""

        async def handler(request: WebSocketRequest) -> None:
            if request.path != "/v5/public/spot":
                await request.reject(404)
                return
            ws = await request.accept()
            self.connections += 1
            conn_id = f"conn-{self.connections}"
            topics: list[str] = []
            self.topics_by_connection.append(topics)
            rng = random.Random(self.connections)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._control, ws, conn_id, topics)
                with contextlib.suppress(ConnectionClosed):
                    await self._stream(ws, topics, rng, Pacer(rate_hz, slices))
                nursery.cancel_scope.cancel()

        await serve_loopback(handler, "/v5/public/spot", task_status)

    async def _stream(self, ws: Any, topics: list[str], rng: random.Random, pacer: Pacer) -> None:
        while True:
            part = await pacer.next()
            for topic in list(topics)[part :: pacer.slices]:
                self.sent += 1
                if self.close_after is not None and self.sent > self.close_after:
                    self.close_after = None
                    await ws.aclose(1001, "maintenance")
                    return
                if self.malformed_every and self.sent % self.malformed_every == 0:
                    await ws.send_message('{"topic": "orderbook.1.BTCUSDT", "da')
                    continue
                await ws.send_message(self.message(topic, rng))

    async def _control(self, ws: Any, conn_id: str, topics: list[str]) -> None:
        try:
            while True:
                text = await ws.get_message()
                try:
                    request = json.loads(text)
                except json.JSONDecodeError:
                    continue
                self.requests.append(request)
                op, req_id = request.get("op"), request.get("req_id", "")
                if op == "ping":
                    self.pings += 1
                    if self.pong:
                        await ws.send_message(
                            json.dumps(
                                {
                                    "success": True,
                                    "ret_msg": "pong",
                                    "conn_id": conn_id,
                                    "op": "ping",
                                }
                            )
                        )
                    continue
                args = [str(a) for a in request.get("args", [])]
                answer = {"success": True, "ret_msg": op, "conn_id": conn_id, "req_id": req_id}
                if len(args) > ARGS_LIMIT:
                    answer.update(success=False, ret_msg=f"args size >{ARGS_LIMIT}")
                    args = []
                bad = [a for a in args if not self.known(a) or a in self.refuse]
                if bad:
                    answer.update(success=False, ret_msg=f"error:handler not found,topic:{bad[0]}")
                if op == "subscribe":
                    topics.extend(a for a in args if a not in bad and a not in topics)
                elif op == "unsubscribe":
                    topics[:] = [t for t in topics if t not in args]
                answer["op"] = op
                if self.ack_delay_s:
                    await trio.sleep(self.ack_delay_s)
                await ws.send_message(json.dumps(answer))
        except ConnectionClosed:
            return

    def known(self, topic: str) -> bool:
        kind, _, sid = topic.rpartition(".")
        return kind in ("orderbook.1", "tickers") and sid in self.prices

    def message(self, topic: str, rng: random.Random) -> str:
        kind, _, sid = topic.rpartition(".")
        price = self.prices[sid] * (1 + D(rng.randint(-20, 20)) / 10000)
        price = price.quantize(D("0.01"))
        ts = 1_700_000_000_000 + self.sent
        if kind == "tickers":
            data: dict[str, Any] = {"symbol": sid, "lastPrice": str(price), "volume24h": "1"}
            return json.dumps({"topic": topic, "ts": ts, "type": "snapshot", "cs": 1, "data": data})
        self._u += 1
        if self.restart_u:
            self.restart_u = False
            self._u = 1
        u = self._u
        if self.stale_every and self.sent % self.stale_every == 0 and u > 5:
            u -= 5  # a late snapshot, older than one already sent
        asks = [] if sid in self.one_sided else [[str(price + D("0.01")), "1.5"]]
        data = {"s": sid, "b": [[str(price), "2"]], "a": asks, "u": u, "seq": 1000 + u}
        return json.dumps({"topic": topic, "ts": ts, "type": "snapshot", "data": data, "cts": ts})
