"""A fake Bybit v5 public spot websocket on 127.0.0.1, from Bybit's documentation.

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
from decimal import Decimal
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

D = Decimal
ARGS_LIMIT = 10


class FakeBybit:
    def __init__(self, prices: dict[str, str] | None = None) -> None:
        self.prices = {k: D(v) for k, v in (prices or {"BTCUSDT": "70000.00"}).items()}
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

    async def serve(
        self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED, rate_hz: float = 20
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
                    await self._stream(ws, topics, rng, rate_hz)
                nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: serve_websocket(
                    handler, "127.0.0.1", 0, ssl_context=None, task_status=task_status
                )
            )
            task_status.started(f"ws://127.0.0.1:{server.port}/v5/public/spot")

    async def _stream(self, ws: Any, topics: list[str], rng: random.Random, rate_hz: float) -> None:
        while True:
            await trio.sleep(1 / rate_hz)
            for topic in list(topics):
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
