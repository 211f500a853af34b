"""One exchange connection: a sync ccxt client called from trio, safely.

Every call goes through the request-weight budget (by priority), the circuit breaker,
one worker thread at a time per client (`trio.CapacityLimiter(1)`: a sync ccxt client is
not thread-safe) and a deadline. Transient errors are retried with capped exponential
backoff and jitter; a 429/418 pauses the whole budget for the Retry-After the exchange
sent. Permanent errors raise at once.
"""

from __future__ import annotations

import functools
import logging
import random
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
}


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
        budget: WeightBudget | None = None,
        breaker: CircuitBreaker | None = None,
        timeout_s: float = 10.0,
        retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 15.0,
        rng: random.Random | None = None,
    ) -> None:
        self.exchange = exchange
        self.name = str(getattr(exchange, "id", "exchange"))
        self.budget = budget or WeightBudget(6000)
        self.breaker = breaker or CircuitBreaker()
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.limiter = trio.CapacityLimiter(1)
        self._rng = rng or random.Random()
        self.calls = 0
        self.failures = 0
        self.retried = 0

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
        while True:
            if priority in _BREAKER_BLOCKS and self.breaker.state is BreakerState.OPEN:
                raise CircuitOpen(self.breaker.retry_in_s, self.breaker.last_error)
            await self.budget.take(WEIGHTS.get(method, 1), priority)
            self.calls += 1
            try:
                with trio.fail_after(self.timeout_s + 1):
                    result = await trio.to_thread.run_sync(
                        functools.partial(getattr(self.exchange, method), *args, **kwargs),
                        limiter=self.limiter,
                        abandon_on_cancel=True,
                    )
            except trio.Cancelled:
                raise
            except Exception as exc:
                self.failures += 1
                kind = classify(exc)
                if kind is ErrorKind.RATE_LIMITED:
                    self._honour_retry_after(exc)
                message = error_text(exc)
                if kind is ErrorKind.TRANSIENT and self.breaker.failure(message):
                    log.warning(
                        "%s: circuit opened after %d failures: %s",
                        self.name,
                        self.breaker.failures,
                        message,
                    )
                if not retryable(kind) or not retry or attempt >= self.retries:
                    raise
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
                continue
            self.breaker.success()
            return result

    @property
    def circuit_open(self) -> bool:
        """True while the breaker holds entries and polling back."""
        return self.breaker.state is BreakerState.OPEN

    def circuit_text(self) -> str:
        """The breaker or rate-limit state in a few words; "" when all is well."""
        breaker = self.breaker
        state = breaker.state
        if state is BreakerState.OPEN:
            return f"circuit open {breaker.retry_in_s:.0f}s"
        if state is BreakerState.HALF_OPEN:
            return "circuit half-open"
        paused = self.budget.paused_for
        return f"rate limited {paused:.0f}s" if paused > 0 else ""

    def _honour_retry_after(self, exc: Exception) -> None:
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        value = None
        for key, v in dict(headers).items():
            if str(key).lower() == "retry-after":
                value = v
        try:
            seconds = float(value) if value is not None else 1.0
        except ValueError:
            seconds = 1.0
        seconds = min(max(seconds, 0.0), 300.0)
        log.warning(
            "%s: rate limited (%s); all calls pause %.0f s", self.name, type(exc).__name__, seconds
        )
        self.budget.pause_for(seconds)
