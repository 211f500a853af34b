"""Order lists on Binance spot: the OCO a position's exits rest on with `exits.on_exchange`
(docs/architecture.md, "Protection on the exchange"), placed, looked up and cancelled by
the client ids the bot gave it.

The list and each of its two legs carry an id of ours, each new and never used again (a
list placed anew after a cancel gets three new ids). A placement whose answer was lost
is never sent again: it is looked up by its list id until Binance's query, which lags
its order entry, has had `settle_s` to show it; only an exchange that answered and did
not show it for that long is taken as proof that it was not placed. The engine's use of
these lists (placing one when a buy fills, cancelling it before an exit of the bot's
own, adopting one at a restart) is `engine/protector.py`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import trio

from tradebot_tui.core.bracket import Bracket, ListIds
from tradebot_tui.core.errors import error_text
from tradebot_tui.exchange.client import CircuitOpen, ExchangeClient
from tradebot_tui.exchange.errors import ErrorKind, classify
from tradebot_tui.exchange.reports import ExchangeOrder, MalformedReport, parse_order
from tradebot_tui.exchange.resilience import Priority

log = logging.getLogger("tradebot.broker")

# Binance's list statuses (`listStatusType`): working, over, refused as a whole.
LIST_STATUSES = ("RESPONSE", "EXEC_STARTED", "UPDATED", "ALL_DONE", "REJECT")
# A list whose placement cannot be settled for this many `settle_s` stays in doubt.
DOUBT_FACTOR = 10


@dataclass(frozen=True, slots=True)
class ExchangeList:
    """One order list as the exchange has it: its status and its legs' client ids."""

    client_id: str
    symbol_id: str
    status: str
    leg_ids: tuple[str, ...]

    @property
    def over(self) -> bool:
        return self.status in ("ALL_DONE", "REJECT")


class ListRefused(Exception):
    """Binance refused the list (filters, a take-profit that would match at once, the
    balance): nothing was placed; the message is Binance's."""


class ListAbsent(ListRefused):
    """Its answer was lost and the exchange showed, after its query's lag, that the list
    was never placed: a new one (new ids) may be."""


class ListInDoubt(Exception):
    """The exchange has not shown whether the list was placed: nothing may be placed for
    the coin until it does (the caller asks again, with the same ids)."""


def parse_order_list(raw: Any) -> ExchangeList:
    """An order list from Binance's answer (placing, querying or cancelling one)."""
    if not isinstance(raw, Mapping):
        raise MalformedReport("an order list is not an object")
    try:
        status = str(raw["listStatusType"])
        cid = str(raw["listClientOrderId"])
        symbol = str(raw["symbol"])
        orders = raw["orders"]
    except KeyError as exc:
        raise MalformedReport(f"an order list has no {exc.args[0]}") from None
    if status not in LIST_STATUSES:
        raise MalformedReport(f"order list {cid}: unknown listStatusType {status!r}")
    if not isinstance(orders, list) or not all(
        isinstance(o, Mapping) and "clientOrderId" in o for o in orders
    ):
        raise MalformedReport(f"order list {cid}: its orders have no clientOrderId")
    return ExchangeList(cid, symbol, status, tuple(str(o["clientOrderId"]) for o in orders))


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


class OrderLists:
    """Places, finds and cancels OCO order lists on one Binance account."""

    def __init__(
        self,
        client: ExchangeClient,
        *,
        settle_s: float = 30.0,
        poll_s: float = 0.5,
        max_poll_s: float = 5.0,
    ) -> None:
        self.client = client
        self.settle_s = settle_s
        self.poll_s = poll_s
        self.max_poll_s = max_poll_s

    def _market_id(self, symbol: str) -> str:
        return str(self.client.exchange.market(symbol)["id"])

    async def place(self, symbol: str, bracket: Bracket, ids: ListIds) -> ExchangeList:
        """Rest `bracket` on the exchange as an OCO sell under `ids`: a LIMIT_MAKER at the
        take-profit, a STOP_LOSS_LIMIT at the stop with its limit below.

        Raises:
            ListRefused: Binance refused it (its words); nothing was placed.
            ListInDoubt: its answer was lost and the exchange has not shown it yet.
        """
        params = {
            "symbol": self._market_id(symbol),
            "side": "SELL",
            "quantity": _text(bracket.qty),
            "aboveType": "LIMIT_MAKER",
            "abovePrice": _text(bracket.take_price),
            "aboveClientOrderId": ids.above,
            "belowType": "STOP_LOSS_LIMIT",
            "belowStopPrice": _text(bracket.stop_price),
            "belowPrice": _text(bracket.stop_limit),
            "belowTimeInForce": "GTC",
            "belowClientOrderId": ids.below,
            "listClientOrderId": ids.list_id,
        }
        try:
            raw = await self.client.call(
                "private_post_orderlist_oco", params, priority=Priority.EXIT, retry=False
            )
        except CircuitOpen as exc:
            raise ListRefused(str(exc)) from None
        except trio.Cancelled:
            raise
        except Exception as exc:
            kind = classify(exc)
            message = error_text(exc, 400)
            if kind in (ErrorKind.REFUSED, ErrorKind.CLOCK, ErrorKind.RATE_LIMITED):
                raise ListRefused(message) from None
            found = await self.settle(symbol, ids.list_id, message)
            if found is None:
                raise ListAbsent(f"not placed: the exchange shows no list {ids.list_id}") from None
            return found
        try:
            return parse_order_list(raw)
        except MalformedReport as exc:
            found = await self.settle(symbol, ids.list_id, f"unreadable answer ({exc})")
            if found is None:
                raise ListAbsent(f"not placed: the exchange shows no list {ids.list_id}") from None
            return found

    async def query(self, symbol: str, list_id: str) -> ExchangeList | None:
        """The list with our id `list_id`, or None when the exchange shows none (yet:
        its query lags its order entry)."""
        params = {"origClientOrderId": list_id}
        return await self._list_or_none("private_get_orderlist", symbol, params, "-2013")

    async def legs(self, symbol: str, leg_ids: Sequence[str]) -> list[ExchangeOrder] | None:
        """Each leg's order (status, amount executed, its value), looked up by its id;
        None when the exchange does not show one of them (yet: its query lags)."""
        orders = []
        for cid in leg_ids:
            try:
                raw = await self.client.call(
                    "fetch_order", None, symbol, {"origClientOrderId": cid}, priority=Priority.QUERY
                )
            except trio.Cancelled:
                raise
            except Exception as exc:
                if classify(exc) is ErrorKind.NOT_FOUND:
                    return None
                raise
            orders.append(parse_order(raw))
        return orders

    async def cancel(self, symbol: str, list_id: str) -> ExchangeList | None:
        """Cancel the list; its state after (None: the exchange knows no open list of
        that id: over already, or not shown yet, which the caller's query tells apart).

        Raises:
            Exception: the exchange's error when the cancel did not go through.
        """
        params = {"listClientOrderId": list_id}
        return await self._list_or_none("private_delete_orderlist", symbol, params, "-2011")

    async def _list_or_none(
        self, method: str, symbol: str, params: dict[str, str], absent: str
    ) -> ExchangeList | None:
        """One call about one list: the list, or None when Binance answers that it knows
        none (`absent`: its code for that, -2013 to a query, -2011 to a cancel)."""
        priority = Priority.CANCEL if method == "private_delete_orderlist" else Priority.QUERY
        try:
            raw = await self.client.call(
                method, {"symbol": self._market_id(symbol), **params}, priority=priority
            )
        except trio.Cancelled:
            raise
        except Exception as exc:
            if classify(exc) is ErrorKind.NOT_FOUND or absent in str(exc):
                return None
            raise
        return parse_order_list(raw)

    async def open_lists(self, prefix: str) -> list[ExchangeList]:
        """The account's open order lists whose id starts with `prefix` (ours)."""
        raw = await self.client.call("private_get_openorderlist", {}, priority=Priority.QUERY)
        if not isinstance(raw, Sequence):
            raise MalformedReport("the open order lists are not a list")
        found = [parse_order_list(x) for x in raw]
        return [x for x in found if x.client_id.startswith(prefix)]

    async def settle(self, symbol: str, list_id: str, why: str) -> ExchangeList | None:
        """Whether a list whose answer was lost exists: looked up by its id with back-off;
        None once a query asked `settle_s` after the placement shows none.

        Raises:
            ListInDoubt: the exchange could not be asked for `DOUBT_FACTOR` × `settle_s`.
        """
        log.warning(
            "order list %s (%s): %s; its outcome is unknown: it is looked up, never sent again",
            list_id,
            symbol,
            why,
        )
        start = trio.current_time()
        delay = self.poll_s
        while True:
            late = trio.current_time() - start >= self.settle_s  # asked after the lag
            try:
                found = await self.query(symbol, list_id)
            except trio.Cancelled:
                raise
            except Exception as exc:
                log.warning("order list %s: %s", list_id, error_text(exc))
            else:
                if found is not None:
                    return found
                if late:
                    return None  # shown absent by an answer given after `settle_s`
            if trio.current_time() - start >= DOUBT_FACTOR * self.settle_s:
                raise ListInDoubt(f"order list {list_id}: the exchange could not be asked")
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_poll_s)
