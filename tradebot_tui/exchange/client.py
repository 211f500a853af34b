"""One exchange connection: sync ccxt clients called from trio, safely.

Every call goes through the request-weight budget (by priority), the circuit breaker,
one worker thread at a time per ccxt client (`trio.CapacityLimiter(1)`: a sync ccxt
client is not thread-safe) and a deadline. Market data has a ccxt client of its own, so
that an exit or a cancel never waits behind a slow ticker poll on the same worker slot.
Transient errors are retried with capped exponential backoff and jitter; a 429/418 pauses
the whole budget for the Retry-After the exchange sent. Permanent errors raise at once.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import trio

from tradebot_tui.core.errors import error_text
from tradebot_tui.exchange.errors import ErrorKind, classify, retryable
from tradebot_tui.exchange.resilience import (
    BreakerState,
    CircuitBreaker,
    Priority,
    WeightBudget,
    backoff_s,
)

log = logging.getLogger("tradebot.exchange")

# Binance spot request weights of the calls we make.
WEIGHTS = {
    "load_markets": 20,
    "fetch_tickers": 80,
    "fetch_ticker": 2,
    "fetch_balance": 20,
    "create_order": 1,
    "fetch_order": 4,
    "cancel_order": 1,
    "fetch_open_orders": 80,
    "fetch_my_trades": 20,
    "fetch_ohlcv": 2,
    "fetch_orders": 20,
    "load_time_difference": 1,
    "private_post_orderlist_oco": 1,
    "private_get_orderlist": 4,
    "private_delete_orderlist": 1,
    "private_get_openorderlist": 6,
    "sapi_post_asset_dust": 1,
    "sapi_get_asset_dribblet": 1,
}


def weight_of(method: str, args: tuple[Any, ...]) -> int:
    """The request weight of one call (Binance's 24hr ticker weighs by symbol count)."""
    if method == "fetch_tickers" and args and isinstance(args[0], list | tuple):
        count = len(args[0])
        return 2 if count <= 20 else 40 if count <= 100 else 80
    return WEIGHTS.get(method, 1)


# Binance bans an IP for 2 minutes to 3 days (418): a Retry-After is honoured in full.
MAX_RETRY_AFTER_S = 3 * 86_400.0
# A clock this far off the exchange's shows in the header.
CLOCK_WARN_MS = 1000
CLOCK_SYNC_S = 600.0


# An open breaker stops new entries and polling; cancels, exits and order queries still go.
_BREAKER_BLOCKS = {Priority.ENTRY, Priority.MARKET_DATA}


class CircuitOpen(Exception):
    """The breaker is open: entries and polling wait (retry in `retry_in_s`)."""

    def __init__(self, retry_in_s: float, last_error: str) -> None:
        self.retry_in_s = retry_in_s
        super().__init__(
            f"exchange circuit open after repeated failures (last: {last_error}); "
            f"retrying in {retry_in_s:.0f} s"
        )


class ExchangeClient:
    """Calls on one ccxt client, with budget, breaker, deadline and retries."""

    def __init__(
        self,
        exchange: Any,
        *,
        market_data: Any | None = None,
        budget: WeightBudget | None = None,
        breaker: CircuitBreaker | None = None,
        timeout_s: float = 10.0,
        retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 15.0,
        rng: random.Random | None = None,
    ) -> None:
        self.exchange = exchange
        # Orders, the account and queries go through `exchange`; market data through its
        # own ccxt client when there is one (each has one worker slot).
        self._lanes = {
            "orders": (exchange, trio.CapacityLimiter(1)),
            "market data": (
                (market_data, trio.CapacityLimiter(1))
                if market_data is not None
                else (exchange, None)
            ),
        }
        self.name = str(exchange.id)
        self.budget = budget or WeightBudget(6000)
        self.breaker = breaker or CircuitBreaker()
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._rng = rng or random.Random()
        self.calls = 0
        self.failures = 0
        self.retried = 0
        # Our clock minus the exchange's (ms), as last measured; signed requests use it.
        self.clock_offset_ms: int | None = None
        self.used_weight = 0  # X-MBX-USED-WEIGHT-1M of the last answer

    async def call(
        self,
        method: str,
        *args: Any,
        priority: Priority,
        retry: bool = True,
        **kwargs: Any,
    ) -> Any:
        """`exchange.<method>(*args, **kwargs)` in a worker thread; see the module doc.

        Raises:
            CircuitOpen: for entries and market data while the breaker is open.
            Exception: the ccxt error, when permanent or when retries ran out.
        """
        attempt = 0
        resynced = False
        while True:
            if priority in _BREAKER_BLOCKS and self.breaker.state is BreakerState.OPEN:
                raise CircuitOpen(self.breaker.retry_in_s, self.breaker.last_error)
            await self.budget.take(weight_of(method, args), priority)
            self.calls += 1
            exchange, limiter = self._lane(priority)
            try:
                with trio.fail_after(self.timeout_s + 1):
                    result, error, headers = await trio.to_thread.run_sync(
                        self._invoke,
                        exchange,
                        method,
                        args,
                        kwargs,
                        limiter=limiter,
                        abandon_on_cancel=True,
                    )
            except trio.TooSlowError as exc:
                result, error, headers = None, exc, {}
            self._observe_weight(headers)
            if error is None:
                self.breaker.success()
                return result
            self.failures += 1
            kind = classify(error)
            if kind is ErrorKind.RATE_LIMITED:
                self._honour_retry_after(error, headers)
            message = error_text(error)
            if kind is ErrorKind.TRANSIENT and self.breaker.failure(message):
                log.warning(
                    "%s: circuit opened after %d failures: %s",
                    self.name,
                    self.breaker.failures,
                    message,
                )
            if kind is ErrorKind.CLOCK and not resynced:
                # The request was refused for its timestamp (nothing was done): measure
                # the exchange's clock again and send it once more, whatever `retry` says.
                resynced = True
                log.warning("%s: %s; resynchronising the clock", self.name, message)
                await self.sync_clock()
                continue
            if not retryable(kind) or not retry or attempt >= self.retries:
                raise error
            delay = max(
                backoff_s(attempt, self.backoff_base_s, self.backoff_cap_s, self._rng),
                self.budget.paused_for,
            )
            log.info(
                "%s.%s failed (%s); retry %d in %.2f s",
                self.name,
                method,
                message,
                attempt + 1,
                delay,
            )
            self.retried += 1
            attempt += 1
            await trio.sleep(delay)

    def _lane(self, priority: Priority) -> tuple[Any, trio.CapacityLimiter]:
        exchange, limiter = self._lanes["orders"]
        if priority is Priority.MARKET_DATA:
            md, md_limiter = self._lanes["market data"]
            if md_limiter is not None:
                if not md.markets and exchange.markets:
                    md.set_markets(exchange.markets, exchange.currencies)
                return md, md_limiter
        assert limiter is not None
        return exchange, limiter

    @staticmethod
    def _invoke(
        exchange: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, Exception | None, dict[str, str]]:
        """In the worker thread: the call, and the answer's headers read before anyone
        else can make a call on this ccxt client."""
        try:
            result = getattr(exchange, method)(*args, **kwargs)
        except Exception as exc:
            return None, exc, dict(exchange.last_response_headers or {})
        return result, None, dict(exchange.last_response_headers or {})

    def _observe_weight(self, headers: dict[str, str]) -> None:
        """The exchange counts the weight used this minute (by every process on this IP):
        the budget never spends beyond it."""
        value = _header(headers, "x-mbx-used-weight-1m")
        if value is None:
            return
        try:
            self.used_weight = int(value)
        except ValueError:
            return
        self.budget.observe_used(self.used_weight)

    def server_ms(self) -> int:
        """The exchange's clock now, as last measured (ours until it is): the timestamp a
        signed request outside ccxt carries (the user data stream's subscription)."""
        return int(time.time() * 1000) - (self.clock_offset_ms or 0)

    async def sync_clock(self) -> int | None:
        """Measure our clock against the exchange's; signed requests are stamped with it.

        Returns:
            Our clock minus the exchange's, in ms (None when it could not be measured).
        """
        try:
            await self.call("load_time_difference", priority=Priority.QUERY)
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.warning("%s: could not read the exchange's clock: %s", self.name, error_text(exc))
            return None
        offset = int(self.exchange.options.get("timeDifference") or 0)
        for exchange, _ in self._lanes.values():
            exchange.options["timeDifference"] = offset
        if self.clock_offset_ms is None or abs(offset - self.clock_offset_ms) >= CLOCK_WARN_MS:
            log.info("%s: our clock is %+d ms off the exchange's", self.name, offset)
        self.clock_offset_ms = offset
        return offset

    async def keep_time(
        self,
        period_s: float = CLOCK_SYNC_S,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Measure the clock now and every `period_s` until cancelled."""
        await self.sync_clock()
        task_status.started()
        while True:
            await trio.sleep(period_s)
            await self.sync_clock()

    @property
    def circuit_open(self) -> bool:
        """True while the breaker holds entries and polling back."""
        return self.breaker.state is BreakerState.OPEN

    def counters(self) -> dict[str, int]:
        """Calls, failures and retries so far; the request weight used this minute."""
        return {
            "calls": self.calls,
            "failures": self.failures,
            "retries": self.retried,
            "weight": self.used_weight,
        }

    def circuit_text(self) -> str:
        """The breaker or rate-limit state in a few words; "" when all is well."""
        breaker = self.breaker
        state = breaker.state
        if state is BreakerState.OPEN:
            return f"circuit open {breaker.retry_in_s:.0f}s"
        if state is BreakerState.HALF_OPEN:
            return "circuit half-open"
        parts = []
        paused = self.budget.paused_for
        if paused > 0:
            parts.append(f"rate limited {paused:.0f}s")
        offset = self.clock_offset_ms
        if offset is not None and abs(offset) > CLOCK_WARN_MS:
            parts.append(f"clock {offset / 1000:+.1f}s off")
        return " · ".join(parts)

    def _honour_retry_after(self, exc: Exception, headers: dict[str, str]) -> None:
        value = _header(headers, "retry-after")
        try:
            seconds = float(value) if value is not None else 1.0
        except ValueError:
            seconds = 1.0
        seconds = min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
        log.warning(
            "%s: rate limited (%s); all calls pause %.0f s", self.name, type(exc).__name__, seconds
        )
        self.budget.pause_for(seconds)


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
