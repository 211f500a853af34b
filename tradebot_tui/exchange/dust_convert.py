"""Binance's small-asset conversion ("Convert small balances to BNB"), for the dust the
bot holds (`core.sweep`; docs/live-trading.md, "Dust").

`POST /sapi/v1/asset/dust` converts the whole free balance of every asset named, in one
transaction, once every few hours; its answer lists each asset converted. The request
carries no id of ours, so an answer lost (a timeout, a 5xx after the exchange converted)
is settled as an order in doubt is, and never sent again until the exchange shows it was
not made: the account's conversion log (`GET /sapi/v1/asset/dribblet`, which lags) shows
the conversion, or, for `settle_s`, shows none while the account still holds the coin
(a conversion takes all of it). The conversion is the only call here that changes the
account outside an order; nothing leaves the exchange.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.core.market import split_symbol
from tradebot_tui.core.money import ZERO, fmt_decimal, parse_decimal
from tradebot_tui.core.orders import (
    BrokerEvent,
    OrderClosed,
    OrderIntent,
    OrderStatus,
    OutcomeUnknown,
    Unexplained,
)
from tradebot_tui.core.sweep import PAID_IN, converted
from tradebot_tui.exchange.client import CircuitOpen, ExchangeClient
from tradebot_tui.exchange.errors import ErrorKind, classify
from tradebot_tui.exchange.reports import Balance, MalformedReport, parse_balances
from tradebot_tui.exchange.resilience import Priority

log = logging.getLogger("tradebot.broker")

Emit = Callable[[BrokerEvent], None]
CONVERT = "sapi_post_asset_dust"
LOG = "sapi_get_asset_dribblet"
# Our clock and the exchange's may differ: the log is read from this long before sending.
LOG_MARGIN_MS = 60_000


class ConversionInDoubt(Exception):
    """The exchange has not shown whether a conversion was made: the coin stays in error
    (retried by the healer, and at a restart), never converted again meanwhile."""


@dataclass(frozen=True, slots=True)
class ConvertedAsset:
    """One asset of one conversion, as the exchange reports it (amounts in BNB but
    `amount`, which is in the asset)."""

    asset: str
    amount: Decimal
    transferred: Decimal
    charge: Decimal
    tran_id: int
    operate_ms: int

    @property
    def credited(self) -> Decimal:
        """The BNB the account received: the amount transferred less the charge."""
        return self.transferred - self.charge


def _part(raw: Any, where: str) -> ConvertedAsset:
    if not isinstance(raw, Mapping):
        raise MalformedReport(f"{where}: not an object")
    try:
        return ConvertedAsset(
            asset=str(raw["fromAsset"]),
            amount=parse_decimal(raw["amount"], f"{where} amount", nonnegative=True),
            transferred=parse_decimal(
                raw["transferedAmount"], f"{where} transferedAmount", nonnegative=True
            ),
            charge=parse_decimal(
                raw["serviceChargeAmount"], f"{where} serviceChargeAmount", nonnegative=True
            ),
            tran_id=int(raw.get("tranId", raw.get("transId", 0))),
            operate_ms=int(raw.get("operateTime", 0)),
        )
    except KeyError as exc:
        raise MalformedReport(f"{where} has no {exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        raise MalformedReport(f"{where}: {exc}") from None


def parse_conversion(raw: Any) -> list[ConvertedAsset]:
    """The assets a `POST /sapi/v1/asset/dust` answer says were converted."""
    parts = raw.get("transferResult") if isinstance(raw, Mapping) else None
    if not isinstance(parts, list):
        raise MalformedReport("the conversion's answer has no transferResult list")
    return [_part(p, f"transferResult[{i}]") for i, p in enumerate(parts)]


def parse_log(raw: Any) -> list[ConvertedAsset]:
    """Every asset of every conversion a `GET /sapi/v1/asset/dribblet` answer lists."""
    rows = raw.get("userAssetDribblets") if isinstance(raw, Mapping) else None
    if not isinstance(rows, list):
        raise MalformedReport("the conversion log has no userAssetDribblets list")
    found = []
    for i, row in enumerate(rows):
        details = row.get("userAssetDribbletDetails") if isinstance(row, Mapping) else None
        if not isinstance(details, list):
            raise MalformedReport(f"userAssetDribblets[{i}] has no userAssetDribbletDetails")
        found += [_part(d, f"userAssetDribblets[{i}].details[{j}]") for j, d in enumerate(details)]
    return found


def base_of(intent: OrderIntent) -> str:
    return split_symbol(intent.symbol)[0]


class DustConverter:
    """Converts the dust of several coins in one request, and settles one in doubt."""

    def __init__(
        self,
        client: ExchangeClient,
        *,
        settle_s: float = 30.0,
        poll_s: float = 0.5,
        max_poll_s: float = 5.0,
        clock_ms: Callable[[], int],
        doubt_s: float = 600.0,
    ) -> None:
        self.client = client
        self.settle_s = settle_s
        self.poll_s = poll_s
        self.max_poll_s = max_poll_s
        self.doubt_s = doubt_s
        self._clock_ms = clock_ms
        # Told the BNB each conversion credited (reconciliation moves its baseline).
        self.on_credit: Callable[[str, Decimal], None] | None = None

    async def convert(self, intents: Sequence[OrderIntent], emit: Emit) -> None:
        """Convert the dust of `intents` (journaled already) in one request, and report
        each: converted (a fill at no quote), refused, or settled after a lost answer.

        Raises:
            ConversionInDoubt: the exchange has not shown whether it converted.
        """
        by_asset = {base_of(i): i for i in intents}
        sent_ms = self._clock_ms()
        try:
            raw = await self.client.call(
                CONVERT, {"asset": list(by_asset)}, priority=Priority.EXIT, retry=False
            )
        except CircuitOpen as exc:  # refused here: nothing was sent
            self._refuse(intents, emit, str(exc))
            return
        except trio.Cancelled:
            raise
        except Exception as exc:
            kind = classify(exc)
            message = error_text(exc, 400)
            if kind in (ErrorKind.REFUSED, ErrorKind.CLOCK, ErrorKind.RATE_LIMITED):
                log.error("dust conversion of %s refused: %s", ", ".join(by_asset), message)
                self._refuse(intents, emit, message)
                return
            for intent in intents:
                emit(OutcomeUnknown(intent.client_id, message))
            await self._settle(intents, emit, sent_ms, message)
            return
        try:
            parts = parse_conversion(raw)
        except MalformedReport as exc:
            for intent in intents:
                emit(OutcomeUnknown(intent.client_id, f"unreadable answer ({exc})"))
            await self._settle(intents, emit, sent_ms, f"unreadable answer ({exc})")
            return
        self._book(intents, parts, emit, settled=True)

    async def recover(self, intent: OrderIntent, emit: Emit, journaled_ms: int) -> None:
        """A conversion the journal left open (a restart, or its answer lost): settled
        with the log and the balance, never sent again."""
        await self._settle([intent], emit, journaled_ms, "open in the journal")

    def _refuse(self, intents: Sequence[OrderIntent], emit: Emit, why: str) -> None:
        now = self._clock_ms()
        for intent in intents:
            emit(OrderClosed(intent.client_id, OrderStatus.REJECTED, now, f"refused: {why}"))

    def _book(
        self,
        intents: Sequence[OrderIntent],
        parts: list[ConvertedAsset],
        emit: Emit,
        *,
        settled: bool,
    ) -> list[OrderIntent]:
        """Report each intent whose asset `parts` shows converted; returns the others
        (closed as not converted when `settled`: the answer lists every asset it took)."""
        found = {p.asset: p for p in parts}
        rest = []
        for intent in intents:
            part = found.get(base_of(intent))
            if part is None:
                if settled:
                    emit(
                        OrderClosed(
                            intent.client_id,
                            OrderStatus.REJECTED,
                            self._clock_ms(),
                            "not converted: the exchange's answer does not list it",
                        )
                    )
                else:
                    rest.append(intent)
                continue
            qty = min(part.amount, intent.qty)
            if part.amount != intent.qty:
                emit(
                    Unexplained(
                        intent.client_id,
                        f"the exchange converted {fmt_decimal(part.amount)} "
                        f"{part.asset}, the bot held {fmt_decimal(intent.qty)} as dust",
                    )
                )
            message = (
                f"converted {fmt_decimal(part.amount)} {part.asset} to "
                f"{fmt_decimal(part.credited)} {PAID_IN} (charge {fmt_decimal(part.charge)} "
                f"{PAID_IN}, transaction {part.tran_id})"
            )
            log.info("%s: %s", intent.client_id, message)
            if self.on_credit is not None:
                self.on_credit(PAID_IN, part.credited)
            for event in converted(intent, qty, part.operate_ms or self._clock_ms(), message):
                emit(event)
        return rest

    async def _settle(
        self, intents: Sequence[OrderIntent], emit: Emit, sent_ms: int, why: str
    ) -> None:
        """Find out whether a conversion whose answer was lost was made."""
        names = ", ".join(base_of(i) for i in intents)
        log.warning(
            "dust conversion of %s: %s; its outcome is unknown: it is not asked again until "
            "the exchange shows whether it was made",
            names,
            why,
        )
        start = trio.current_time()
        delay = self.poll_s
        left = list(intents)
        while left:
            # Only a log read once it had `settle_s` to lag can show a conversion absent;
            # the balance that confirms it is read then, not before.
            late = trio.current_time() - start >= self.settle_s
            balances = None
            try:
                raw = await self.client.call(
                    LOG, {"startTime": sent_ms - LOG_MARGIN_MS}, priority=Priority.QUERY
                )
                seen = [p for p in parse_log(raw) if p.operate_ms >= sent_ms - LOG_MARGIN_MS]
                left = self._book(left, seen, emit, settled=False)
                if late and left:
                    balances = parse_balances(
                        await self.client.call("fetch_balance", priority=Priority.QUERY)
                    )
            except trio.Cancelled:
                raise
            except Exception as exc:  # not answered: ask again
                log.warning("dust conversion of %s: %s", names, error_text(exc))
            waited = trio.current_time() - start
            if balances is not None:
                for intent in list(left):
                    if balances.get(base_of(intent), Balance(ZERO, ZERO)).free >= intent.qty:
                        log.warning(
                            "%s: no conversion of %s in the log for %.0f s and the account "
                            "still holds it: not converted",
                            intent.client_id,
                            base_of(intent),
                            waited,
                        )
                        emit(
                            OrderClosed(
                                intent.client_id,
                                OrderStatus.CANCELED,
                                self._clock_ms(),
                                "not converted: the exchange shows the coin still held",
                            )
                        )
                        left.remove(intent)
            if not left:
                return
            if waited >= self.doubt_s:
                raise ConversionInDoubt(
                    f"the conversion of {names} is in no log, yet the coin is gone "
                    f"from the account after {waited:.0f} s"
                )
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_poll_s)
