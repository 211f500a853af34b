"""A fake Kraken on 127.0.0.1, from Kraken's documentation: the v2 public websocket (`/v2`)
and the REST calls a paper run makes before it (`/0/public/AssetPairs`, `/0/public/Assets`,
`/0/public/Ticker`, `/0/public/OHLC`).

The websocket sends the `status` channel on connect (`system`: `online`), takes
`{"method": "subscribe" | "unsubscribe", "params": {"channel": "ticker", "symbol": [...],
"event_trigger": "bbo" | "trades"}, "req_id": n}` and answers each symbol
(`{"method": "subscribe", "result": {"channel": "ticker", "symbol": ...}, "success": true,
...}`), or refuses one it does not list (`"success": false`, `"error": "Currency pair not
supported <symbol>"`). Subscribed, it pushes `ticker` updates, and `{"channel":
"heartbeat"}` about once a second when nothing else is sent. `{"method": "ping"}` is
answered with `pong`.

As mean as the documentation allows:
- `ack_delay_s`: answers come late; `refuse`: symbols refused;
- `maintenance_after`: after this many updates the status turns `maintenance`, nothing
  more is sent, and the connection closes (Kraken's scheduled maintenance);
- `quiet`: no updates, only the heartbeat once a second;
- `silent`: neither updates nor heartbeats (a connection gone dead without a close);
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


def now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


class FakeKraken(RestFake):
    def __init__(self, prices: dict[str, str] | None = None) -> None:
        # By v2 name ("BTC/USDT"); the REST id is the name without its slash.
        self.prices = {k: D(v) for k, v in (prices or {"BTC/USDT": "70000.00"}).items()}
        self.ack_delay_s = 0.0
        self.refuse: set[str] = set()
        self.maintenance_after: int | None = None
        self.silent = False
        self.quiet = False
        self.malformed_every = 0
        self.connections = 0
        self.sent = 0
        self.heartbeats = 0
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
            if request.path != "/v2":
                await request.reject(404)
                return
            ws = await request.accept()
            self.connections += 1
            subscribed: list[str] = []
            rng = random.Random(self.connections)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._control, ws, subscribed)
                with contextlib.suppress(ConnectionClosed):
                    await ws.send_message(self.status("online"))
                    await self._stream(ws, subscribed, rng, Pacer(rate_hz, slices))
                nursery.cancel_scope.cancel()

        await serve_loopback(handler, "/v2", task_status)

    def status(self, system: str) -> str:
        data = [{"api_version": "v2", "connection_id": 1, "system": system, "version": "2.0.9"}]
        return json.dumps({"channel": "status", "type": "update", "data": data})

    async def _stream(
        self, ws: Any, subscribed: list[str], rng: random.Random, pacer: Pacer
    ) -> None:
        last_sent = trio.current_time()
        while True:
            part = await pacer.next()
            if self.silent or not subscribed:
                continue
            if self.quiet:  # no update: a heartbeat once a second instead
                if trio.current_time() - last_sent >= 1.0:
                    last_sent = trio.current_time()
                    self.heartbeats += 1
                    await ws.send_message('{"channel":"heartbeat"}')
                continue
            last_sent = trio.current_time()
            for name in list(subscribed)[part :: pacer.slices]:
                self.sent += 1
                if self.maintenance_after is not None and self.sent > self.maintenance_after:
                    self.maintenance_after = None
                    await ws.send_message(self.status("maintenance"))
                    await trio.sleep(0.3)
                    await ws.aclose(1001, "maintenance")
                    return
                if self.malformed_every and self.sent % self.malformed_every == 0:
                    await ws.send_message('{"channel": "ticker", "data": [{"symbol"')
                    continue
                await ws.send_message(self.ticker(name, rng))

    def ticker(self, name: str, rng: random.Random) -> str:
        price = (self.prices[name] * (1 + D(rng.randint(-20, 20)) / 10000)).quantize(TICK)
        row = {
            "symbol": name,
            "bid": float(price),
            "bid_qty": 1.5,
            "ask": float(price + TICK),
            "ask_qty": 2.0,
            "last": float(price),
            "volume": 100.0,
            "vwap": float(price),
            "low": float(price),
            "high": float(price),
            "change": 0.0,
            "change_pct": 0.0,
        }
        return json.dumps({"channel": "ticker", "type": "update", "data": [row]})

    async def _control(self, ws: Any, subscribed: list[str]) -> None:
        try:
            while True:
                text = await ws.get_message()
                try:
                    request = json.loads(text)
                except json.JSONDecodeError:
                    continue
                self.requests.append(request)
                method, req_id = request.get("method"), request.get("req_id")
                if method == "ping":
                    pong = {"method": "pong", "req_id": req_id, "time_in": now_text()}
                    await ws.send_message(json.dumps(pong))
                    continue
                params = request.get("params", {})
                if self.ack_delay_s:
                    await trio.sleep(self.ack_delay_s)
                for name in params.get("symbol", []):
                    answer: dict[str, Any] = {
                        "method": method,
                        "time_in": now_text(),
                        "time_out": now_text(),
                        "req_id": req_id,
                    }
                    if name not in self.prices or name in self.refuse:
                        answer.update(
                            success=False, error=f"Currency pair not supported {name}", symbol=name
                        )
                    else:
                        answer.update(
                            success=True,
                            result={"channel": "ticker", "symbol": name, "snapshot": True},
                        )
                        if method == "subscribe" and name not in subscribed:
                            subscribed.append(name)
                        elif method == "unsubscribe" and name in subscribed:
                            subscribed.remove(name)
                    await ws.send_message(json.dumps(answer))
        except ConnectionClosed:
            return

    # -- REST ------------------------------------------------------------------------------

    def rest(self, path: str, q: dict[str, str]) -> dict[str, Any]:
        ids = {name.replace("/", ""): name for name in self.prices}
        if path == "/0/public/Time":
            now = int(time.time())
            stamp = time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime(now))
            return {"error": [], "result": {"unixtime": now, "rfc1123": stamp}}
        if path == "/0/public/Assets":
            coins = {n.split("/")[0] for n in self.prices} | {"USDT"}
            result: Any = {
                c: {"aclass": "currency", "altname": c, "decimals": 8, "display_decimals": 5}
                for c in sorted(coins)
            }
        elif path == "/0/public/AssetPairs":
            result = {
                pid: {
                    "altname": pid,
                    "wsname": name,
                    "aclass_base": "currency",
                    "base": name.split("/")[0],
                    "aclass_quote": "currency",
                    "quote": name.split("/")[1],
                    "lot": "unit",
                    "cost_decimals": 5,
                    "pair_decimals": 2,
                    "lot_decimals": 8,
                    "lot_multiplier": 1,
                    "leverage_buy": [],
                    "leverage_sell": [],
                    "fees": [[0, 0.26]],
                    "fees_maker": [[0, 0.16]],
                    "fee_volume_currency": "ZUSD",
                    "margin_call": 80,
                    "margin_stop": 40,
                    "ordermin": "0.0001",
                    "costmin": "0.5",
                    "tick_size": str(TICK),
                    "status": "online",
                }
                for pid, name in ids.items()
            }
        elif path == "/0/public/Ticker":
            result = {
                pid: {
                    "a": [str(self.prices[name] + TICK), "1", "1.000"],
                    "b": [str(self.prices[name]), "1", "1.000"],
                    "c": [str(self.prices[name]), "0.1"],
                    "v": ["100", "100"],
                    "p": [str(self.prices[name])] * 2,
                    "t": [10, 10],
                    "l": [str(self.prices[name])] * 2,
                    "h": [str(self.prices[name])] * 2,
                    "o": str(self.prices[name]),
                }
                for pid, name in ids.items()
            }
        elif path == "/0/public/OHLC":
            pid = q.get("pair", "")
            level = self.prices.get(ids.get(pid, ""), D(1))
            now = int(time.time()) // 60 * 60
            since = int(q.get("since", str(now - 720 * 60))) // 60 * 60
            rows = [
                [t, *[str(level)] * 4, str(level), "1", 3]
                for t in range(max(since, now - 720 * 60), now, 60)
            ]
            result = {pid: rows, "last": now}
        else:
            return {"error": [f"EGeneral:Unknown method {path}"]}
        return {"error": [], "result": result}
