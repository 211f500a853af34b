"""Binance's user data stream: the account's order updates pushed, not polled.

Binance retired the listen key (`POST /api/v3/userDataStream`) for the WebSocket API:
a connection to `wss://ws-api.binance.com:443/ws-api/v3` subscribes with the signed
request `userDataStream.subscribe.signature` (the API key and a timestamp, signed as
any REST request) and then receives the account's events, each wrapped as
`{"subscriptionId": n, "event": {...}}`. No keepalive is needed; the server ends a
connection after 24 hours and a subscription with an `eventStreamTerminated` event.

`UserStream` is a service off the trading path (docs/live-trading.md, "Fills pushed by
the exchange"): it keeps the subscription, turns each `executionReport` into the order's
cumulative state and hands it to `PushedOrders`, where the broker following that order
picks it up at once instead of at its next poll. Polling never stops: it goes on,
slower, while the stream is up, and at its usual pace while it is down (the header
says which). A fill is applied once whichever path reports it first, because both
report the order's cumulative amounts and `OrderTracker` applies only what is new.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import trio

from tradebot_tui.core.orders import OrderIntent, OrderStatus, Side
from tradebot_tui.exchange.reports import ExchangeOrder, FeePaid, MalformedReport
from tradebot_tui.exchange.resilience import backoff_s

log = logging.getLogger("tradebot.stream")

WS_API_URL = "wss://ws-api.binance.com:443/ws-api/v3"
CONNECT_S = 10.0  # a connection must be open within this
SUBSCRIBE_S = 10.0  # the answer to a subscription must come within this
HEALTHY_S = 60.0  # a connection that lived this long starts the back-off over
KEPT = 2_000  # orders whose last pushed state is kept (the oldest are forgotten)

# Binance's order statuses (executionReport "X") as ours.
_STATUSES = {
    "NEW": OrderStatus.OPEN,
    "PENDING_NEW": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "PENDING_CANCEL": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}


class StreamRefused(Exception):
    """The exchange refused the subscription (a key without the right, a bad signature)."""


@dataclass(frozen=True, slots=True)
class PushedOrder:
    """One order's state as an `executionReport` gave it: cumulative amounts."""

    client_id: str
    market_id: str  # the exchange's symbol ("BTCUSDT")
    order_id: str
    side: Side
    status: OrderStatus
    amount: Decimal
    filled: Decimal
    cost: Decimal
    price: Decimal | None
    created_ms: int | None
    updated_ms: int | None
    # The trade this event reports (execution type TRADE): id, amount, commission and
    # the commission's asset; None for the other events.
    trade: tuple[int, Decimal, Decimal, str] | None = None

    def order_of(self, intent: OrderIntent, fees: tuple[FeePaid, ...] = ()) -> ExchangeOrder | None:
        """This state as the `ExchangeOrder` of `intent`, or None when it is another
        order's (a symbol or a side that is not the intent's)."""
        if self.market_id != intent.symbol.replace("/", "") or self.side is not intent.side:
            return None
        average = self.cost / self.filled if self.filled > 0 else None
        return ExchangeOrder(
            client_id=self.client_id,
            order_id=self.order_id,
            symbol=intent.symbol,
            side=self.side,
            status=self.status,
            amount=self.amount,
            filled=self.filled,
            cost=self.cost,
            average=average,
            price=self.price,
            fees=fees,  # empty: read from the account's trades, as for a REST answer
            created_ms=self.created_ms,
            updated_ms=self.updated_ms,
        )


def _decimal(event: Mapping[str, Any], key: str) -> Decimal:
    value = event.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise MalformedReport(f"executionReport: {key} is {value!r}, not a number")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise MalformedReport(f"executionReport: {key} is {value!r}, not a number") from None
    if not number.is_finite() or number < 0:
        raise MalformedReport(f"executionReport: {key} is {value!r}")
    return number


def _ms(event: Mapping[str, Any], key: str) -> int | None:
    value = event.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_execution_report(event: Mapping[str, Any]) -> PushedOrder:
    """An `executionReport` event as the order's state.

    A cancellation reports the cancel request's own id in "c" and the order's in "C":
    the order is found by the latter.

    Raises:
        MalformedReport: a field missing or of the wrong type.
    """
    status = _STATUSES.get(str(event.get("X")))
    if status is None:
        raise MalformedReport(f"executionReport: order status {event.get('X')!r}")
    original = event.get("C")
    client_id = original if status is OrderStatus.CANCELED and original else event.get("c")
    market_id = event.get("s")
    if not isinstance(client_id, str) or not client_id or not isinstance(market_id, str):
        raise MalformedReport("executionReport: no client order id or symbol")
    side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(str(event.get("S")))
    if side is None:
        raise MalformedReport(f"executionReport: side {event.get('S')!r}")
    filled = _decimal(event, "z")
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    price = _decimal(event, "p")
    trade = None
    trade_id = event.get("t")
    if event.get("x") == "TRADE" and isinstance(trade_id, int) and trade_id >= 0:
        asset = event.get("N")
        fee = _decimal(event, "n")
        if fee > 0 and (not isinstance(asset, str) or not asset):
            raise MalformedReport(
                f"executionReport: commission {event.get('n')} in asset {asset!r}"
            )
        trade = (trade_id, _decimal(event, "l"), fee, asset if isinstance(asset, str) else "")
    return PushedOrder(
        client_id=client_id,
        market_id=market_id,
        order_id=str(event.get("i") or ""),
        side=side,
        status=status,
        amount=_decimal(event, "q"),
        filled=filled,
        cost=_decimal(event, "Z"),
        price=price if price > 0 else None,
        created_ms=_ms(event, "O"),
        updated_ms=_ms(event, "T") or _ms(event, "E"),
        trade=trade,
    )


def _newer(new: PushedOrder, old: PushedOrder) -> bool:
    """Whether `new` says more than `old`: more filled, or over where `old` was not.
    Events may come twice or out of order; a state never goes back."""
    if new.filled != old.filled:
        return new.filled > old.filled
    return new.status.terminal and not old.status.terminal


class PushedOrders:
    """The latest pushed state of each of our orders, by client id, and who waits for it."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._orders: OrderedDict[str, tuple[int, PushedOrder]] = OrderedDict()
        # Each order's trades as pushed, by trade id (a duplicate event counts once).
        self._trades: dict[str, dict[int, tuple[Decimal, Decimal, str]]] = {}
        self._lists: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._changed = trio.Event()
        self._versions = itertools.count(1)
        self.up = False  # the stream is subscribed: polling may slow down
        self.duplicates = 0

    def put(self, state: PushedOrder) -> bool:
        """Keep `state` if it says more than what was pushed before; True when it did."""
        if state.trade is not None:
            trade_id, qty, fee, asset = state.trade
            self._trades.setdefault(state.client_id, {})[trade_id] = (qty, fee, asset)
        old = self._orders.get(state.client_id)
        if old is not None and not _newer(state, old[1]):
            self.duplicates += 1
            return False
        self._orders[state.client_id] = (next(self._versions), state)
        self._orders.move_to_end(state.client_id)
        while len(self._orders) > self._kept:
            gone, _ = self._orders.popitem(last=False)
            self._trades.pop(gone, None)
        self._changed.set()
        self._changed = trio.Event()
        return True

    def fees(self, state: PushedOrder) -> tuple[FeePaid, ...]:
        """The commissions of `state`'s order when the stream pushed every one of its
        trades so far (their amounts add up to what it filled), else () and they are read
        from the account's trade list: a trade missed while the stream was down would
        otherwise go uncharged."""
        trades = self._trades.get(state.client_id, {})
        if not trades or sum(qty for qty, _, _ in trades.values()) != state.filled:
            return ()
        by_asset: dict[str, Decimal] = {}
        for _, fee, asset in trades.values():
            if fee > 0:
                by_asset[asset] = by_asset.get(asset, Decimal(0)) + fee
        return tuple(FeePaid(asset, cost) for asset, cost in sorted(by_asset.items()))

    def put_list(self, list_id: str, status: str) -> None:
        """An order list's status as pushed (`listStatus`: EXEC_STARTED, ALL_DONE...)."""
        self._lists[list_id] = (next(self._versions), status)
        self._lists.move_to_end(list_id)
        while len(self._lists) > self._kept:
            self._lists.popitem(last=False)
        self._changed.set()
        self._changed = trio.Event()

    def list_state(self, list_id: str) -> tuple[int, str] | None:
        """(version, status) of the last status pushed for the order list, if any."""
        return self._lists.get(list_id)

    def latest(self, client_id: str) -> tuple[int, PushedOrder] | None:
        """(version, state) of the last state pushed for `client_id`, if any."""
        return self._orders.get(client_id)

    async def wait(
        self, client_id: str, after: int, timeout_s: float
    ) -> tuple[int, PushedOrder] | None:
        """The state of `client_id` newer than version `after`, as soon as it is pushed;
        None when none came within `timeout_s`."""
        with trio.move_on_after(timeout_s):
            while True:
                found = self._orders.get(client_id)
                if found is not None and found[0] > after:
                    return found
                await self._changed.wait()
        return None


def signed_params(api_key: str, secret: str, timestamp_ms: int) -> dict[str, Any]:
    """The subscription's parameters, signed as Binance signs a request: HMAC-SHA256 of
    the parameters sorted by name, as a query string, with the API secret."""
    params: dict[str, Any] = {"apiKey": api_key, "timestamp": timestamp_ms}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    params["signature"] = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return params


class UserStream:
    """The service that keeps the subscription and feeds `PushedOrders`.

    A lost connection is taken again by `run` itself (an expected event: Binance ends
    every connection after a day); a refusal ends `run` with `StreamRefused`, which the
    engine's supervisor shows and retries. The header says the fills are polled
    meanwhile.
    """

    name = "user stream"

    def __init__(
        self,
        pushed: PushedOrders,
        api_key: str,
        secret: str,
        *,
        url: str = WS_API_URL,
        server_ms: Callable[[], int] | None = None,
        connect: Callable[..., Any] | None = None,
    ) -> None:
        self.pushed = pushed
        self.url = url or WS_API_URL
        self._api_key = api_key
        self._secret = secret  # never logged nor shown: only the signature leaves
        self._server_ms = server_ms or (lambda: int(time.time() * 1000))
        self._connect = connect
        self._request_ids = itertools.count(1)
        self._pending = 0  # the id of the subscription request not answered yet
        self.subscriptions = 0
        self.reconnects = 0
        self.malformed = 0
        self._rng = random.Random()
        self.why_down = "not connected yet"

    def alerts(self) -> tuple[str, ...]:
        return ()

    def header(self) -> str:
        return "fills pushed" if self.pushed.up else f"fills polled ({self.why_down})"

    async def stopped(self, why: str, *, crashed: bool) -> None:
        self.pushed.up = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the subscription until cancelled. A lost connection (Binance ends each
        after 24 hours) is taken again after a back-off (1 s doubling to 60 s, started
        over once a connection lived a minute), the fills polled meanwhile; only a
        refusal ends `run` (the supervisor shows it and retries)."""
        task_status.started()  # the engine trades without it: polling is the fallback
        from tradebot_tui.exchange.wsclient import ConnectionClosed, WebsocketError, connect

        opener = self._connect or connect
        attempt = 0
        while True:
            opened = trio.current_time()
            try:
                with trio.fail_after(CONNECT_S):  # a connect that hangs is retried too
                    ws = await opener(self.url)
            except (OSError, WebsocketError, trio.TooSlowError) as exc:
                self.why_down = "stream down"
                log.warning("user data stream: cannot connect (%s); fills are polled", exc)
            else:
                try:
                    await self._session(ws)
                except (ConnectionClosed, trio.TooSlowError) as exc:
                    why = (
                        "no answer to the subscription"
                        if isinstance(exc, trio.TooSlowError)
                        else exc
                    )
                    log.warning(
                        "user data stream lost (%s); fills are polled until it is back", why
                    )
            if trio.current_time() - opened >= HEALTHY_S:
                attempt = 0
            self.reconnects += 1
            await trio.sleep(backoff_s(attempt, 1.0, 60.0, self._rng))
            attempt += 1

    async def _session(self, ws: Any) -> None:
        """One connection: subscribe, then take its events until it ends."""
        try:
            await self._subscribe(ws)
            while True:
                for message in await ws.receive_batch():
                    await self._message(ws, message)
        finally:
            self.pushed.up = False
            if self.why_down == "":
                self.why_down = "stream down"
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await ws.aclose()

    async def _subscribe(self, ws: Any) -> None:
        request_id = next(self._request_ids)
        self._pending = request_id
        params = signed_params(self._api_key, self._secret, self._server_ms())
        await ws.send_text(
            json.dumps(
                {"id": request_id, "method": "userDataStream.subscribe.signature", "params": params}
            )
        )
        with trio.fail_after(SUBSCRIBE_S):
            while self._pending:
                for message in await ws.receive_batch():
                    await self._message(ws, message)

    async def _message(self, ws: Any, message: str | bytes) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            self._unreadable(f"not JSON: {str(message)[:80]!r}")
            return
        if not isinstance(data, dict):
            self._unreadable(f"not an object: {str(message)[:80]!r}")
            return
        if "id" in data and "status" in data:
            self._answer(data)
            return
        event = data.get("event")
        if not isinstance(event, dict):
            self._unreadable(f"no event: {str(message)[:80]!r}")
            return
        kind = event.get("e")
        if kind == "executionReport":
            try:
                state = parse_execution_report(event)
            except MalformedReport as exc:
                self._unreadable(str(exc))
                return
            self.pushed.put(state)
        elif kind == "listStatus":  # an order list of ours moved (a leg, its end)
            list_id, status = event.get("C"), event.get("l")
            if not isinstance(list_id, str) or not list_id or not isinstance(status, str):
                self._unreadable(f"listStatus: list {list_id!r}, status {status!r}")
                return
            self.pushed.put_list(list_id, status)
        elif kind == "eventStreamTerminated":
            # The subscription ended (the connection stays): polled until it is back.
            log.warning("user data stream: the subscription ended; subscribing again")
            self.pushed.up = False
            self.why_down = "resubscribing"
            await self._subscribe(ws)

    def _answer(self, data: dict[str, Any]) -> None:
        if not self._pending or data.get("id") != self._pending:
            return
        self._pending = 0
        if data.get("status") != 200:
            error = data.get("error")
            msg = error.get("msg") if isinstance(error, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            self.why_down = "refused"
            raise StreamRefused(
                f"user data stream refused by the exchange: {msg or 'no reason given'}"
                + (f" (code {code})" if code is not None else "")
            )
        self.subscriptions += 1
        self.pushed.up = True
        self.why_down = ""
        log.info("user data stream: subscribed; fills are pushed (polling slows down)")

    def _unreadable(self, what: str) -> None:
        self.malformed += 1
        if self.malformed <= 5 or self.malformed % 100 == 0:
            log.warning("user data stream: a message skipped (%s); %d so far", what, self.malformed)
