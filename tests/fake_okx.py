"""A fake OKX (API v5) on 127.0.0.1, from OKX's documentation: the public websocket
(`/ws/v5/public`) and the REST calls a paper run makes before it
(`/api/v5/public/instruments`, `/api/v5/market/tickers`, `/api/v5/market/candles`).

The websocket takes `{"op": "subscribe" | "unsubscribe", "args": [{"channel", "instId"}],
"id"}` and answers each channel `{"event": "subscribe", "arg": {...}, "connId": ...}`, or
`{"event": "error", "code": "60018", "msg": ..., "connId": ...}` for one it does not know.
The text `ping` is answered `pong`. `bbo-tbt` pushes the top of the book (`asks`, `bids`,
`ts`, `seqId`), `tickers` the last price.

As mean as the documentation allows:
- `ack_delay_s`: answers come late; `refuse`: instIds refused;
- `pong`: False stops answering pings;
- `upgrade_after`: after this many data messages, OKX's notice 64008 (the connection
  closes soon for a service upgrade), then the close a little later;
- `silent`: nothing is pushed (the client must ping to keep the connection);
- `stale_every`: every n-th book message carries an older seqId (late);
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


class FakeOkx(RestFake):
    def __init__(self, prices: dict[str, str] | None = None) -> None:
        self.prices = {k: D(v) for k, v in (prices or {"BTC-USDT": "70000.0"}).items()}
        self.ack_delay_s = 0.0
        self.refuse: set[str] = set()
        self.pong = True
        self.upgrade_after: int | None = None
        self.silent = False
        self.stale_every = 0
        self.malformed_every = 0
        self.connections = 0
        self.sent = 0
        self.pings = 0
        self.requests: list[Any] = []
        self.channels_by_connection: list[list[tuple[str, str]]] = []
        self._seq = 0

    # -- websocket -------------------------------------------------------------------------

    async def serve(
        self,
        *,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
        rate_hz: float = 20,
        slices: int = 1,
    ) -> None:
        async def handler(request: WebSocketRequest) -> None:
            if request.path != "/ws/v5/public":
                await request.reject(404)
                return
            ws = await request.accept()
            self.connections += 1
            conn = f"c{self.connections}"
            channels: list[tuple[str, str]] = []
            self.channels_by_connection.append(channels)
            rng = random.Random(self.connections)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._control, ws, conn, channels)
                with contextlib.suppress(ConnectionClosed):
                    await self._stream(ws, conn, channels, rng, Pacer(rate_hz, slices))
                nursery.cancel_scope.cancel()

        await serve_loopback(handler, "/ws/v5/public", task_status)

    async def _stream(
        self,
        ws: Any,
        conn: str,
        channels: list[tuple[str, str]],
        rng: random.Random,
        pacer: Pacer,
    ) -> None:
        while True:
            part = await pacer.next()
            if self.silent:
                continue
            for channel, inst in list(channels)[part :: pacer.slices]:
                self.sent += 1
                if self.upgrade_after is not None and self.sent > self.upgrade_after:
                    self.upgrade_after = None
                    notice = {
                        "event": "notice",
                        "code": "64008",
                        "msg": "The connection will soon be closed for a service upgrade. "
                        "Please reconnect.",
                        "connId": conn,
                    }
                    await ws.send_message(json.dumps(notice))
                    await trio.sleep(0.5)
                    await ws.aclose(1001, "upgrade")
                    return
                if self.malformed_every and self.sent % self.malformed_every == 0:
                    await ws.send_message('{"arg": {"channel": "bbo-tbt"}, "data": [{')
                    continue
                await ws.send_message(self.message(channel, inst, rng))

    async def _control(self, ws: Any, conn: str, channels: list[tuple[str, str]]) -> None:
        try:
            while True:
                text = await ws.get_message()
                if text == "ping":
                    self.pings += 1
                    if self.pong:
                        await ws.send_message("pong")
                    continue
                try:
                    request = json.loads(text)
                except json.JSONDecodeError:
                    await ws.send_message(
                        json.dumps({"event": "error", "code": "60012", "msg": "Invalid request"})
                    )
                    continue
                self.requests.append(request)
                op = request.get("op")
                if self.ack_delay_s:
                    await trio.sleep(self.ack_delay_s)
                for arg in request.get("args", []):
                    channel, inst = arg.get("channel"), arg.get("instId")
                    if (
                        inst not in self.prices
                        or inst in self.refuse
                        or channel
                        not in (
                            "bbo-tbt",
                            "tickers",
                        )
                    ):
                        await ws.send_message(
                            json.dumps(
                                {
                                    "event": "error",
                                    "code": "60018",
                                    "msg": f"Wrong URL or channel:{channel},instId:{inst} "
                                    "doesn't exist",
                                    "connId": conn,
                                }
                            )
                        )
                        continue
                    if op == "subscribe" and (channel, inst) not in channels:
                        channels.append((channel, inst))
                    elif op == "unsubscribe" and (channel, inst) in channels:
                        channels.remove((channel, inst))
                    await ws.send_message(json.dumps({"event": op, "arg": arg, "connId": conn}))
        except ConnectionClosed:
            return

    def message(self, channel: str, inst: str, rng: random.Random) -> str:
        price = (self.prices[inst] * (1 + D(rng.randint(-20, 20)) / 10000)).quantize(TICK)
        ts = str(int(time.time() * 1000))
        arg = {"channel": channel, "instId": inst}
        if channel == "tickers":
            row = {"instType": "SPOT", "instId": inst, "last": str(price), "ts": ts}
            return json.dumps({"arg": arg, "data": [row]})
        self._seq += 1
        seq = self._seq
        if self.stale_every and self.sent % self.stale_every == 0 and seq > 5:
            seq -= 5
        book: dict[str, Any] = {
            "asks": [[str(price + TICK), "1.5", "0", "2"]],
            "bids": [[str(price), "2", "0", "3"]],
            "ts": ts,
            "seqId": seq,
        }
        return json.dumps({"arg": arg, "data": [book]})

    # -- REST ------------------------------------------------------------------------------

    def rest(self, path: str, q: dict[str, str]) -> dict[str, Any]:
        now = int(time.time() * 1000)
        if path == "/api/v5/public/time":
            return {"code": "0", "msg": "", "data": [{"ts": str(now)}]}
        if path == "/api/v5/public/instruments":
            if q.get("instType") != "SPOT":
                return {"code": "51000", "msg": "Parameter instType error", "data": []}
            data: list[Any] = [
                {
                    "instType": "SPOT",
                    "instId": inst,
                    "baseCcy": inst.split("-")[0],
                    "quoteCcy": inst.split("-")[1],
                    "settleCcy": "",
                    "ctVal": "",
                    "ctMult": "",
                    "ctValCcy": "",
                    "listTime": "1606468572000",
                    "lotSz": "0.00000001",
                    "minSz": "0.00001",
                    "tickSz": str(TICK),
                    "state": "live",
                    "maxMktSz": "1000000",
                }
                for inst in self.prices
            ]
        elif path == "/api/v5/market/tickers":
            data = [
                {
                    "instType": "SPOT",
                    "instId": inst,
                    "last": str(p),
                    "lastSz": "0.1",
                    "askPx": str(p + TICK),
                    "askSz": "1",
                    "bidPx": str(p),
                    "bidSz": "1",
                    "open24h": str(p),
                    "high24h": str(p),
                    "low24h": str(p),
                    "volCcy24h": "1000000",
                    "vol24h": "100",
                    "sodUtc0": str(p),
                    "sodUtc8": str(p),
                    "ts": str(now),
                }
                for inst, p in self.prices.items()
            ]
        elif path in ("/api/v5/market/candles", "/api/v5/market/history-candles"):
            inst, limit = q.get("instId", ""), min(int(q.get("limit", "100")), 300)
            level = self.prices.get(inst, D(1))
            end = now // 60_000 * 60_000 - 60_000
            stamps = [end - i * 60_000 for i in range(limit)]  # newest first, as OKX sends
            data = [[str(t), *[str(level)] * 4, "1", str(level), str(level), "1"] for t in stamps]
        else:
            return {"code": "50000", "msg": f"no such path in the fake: {path}", "data": []}
        return {"code": "0", "msg": "", "data": data}
