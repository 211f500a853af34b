"""Calling an exchange without hurting it or us: back-off, weight budget, breaker.

(What each ccxt error means is decided in `exchange.errors`, which imports ccxt; this
module does not, so the engine can read breaker states on the default start-up path.)

- `WeightBudget`: one token bucket of request weight per exchange, shared by every call,
  served by priority (cancels and exits, then entries, then market data), and paused as a
  whole when the exchange answers 429 or 418 with Retry-After.
- `CircuitBreaker`: opens after a run of failures; while open, entries and polling pause;
  after its back-off one trial call may pass (half-open) and a success closes it.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable
from enum import IntEnum, StrEnum

import trio


def backoff_s(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Capped exponential backoff with full jitter: uniform in [base/2, min(cap, base*2^n)]."""
    top = min(cap, base * (2**attempt))
    return rng.uniform(min(base / 2, top), top)


class Priority(IntEnum):
    """Lower goes first."""

    CANCEL = 0
    EXIT = 1
    ENTRY = 2
    QUERY = 3
    MARKET_DATA = 4


class WeightBudget:
    """A token bucket of request weight, served in priority order.

    `capacity` weight may be spent at once, refilled at `per_minute / 60` a second. A
    waiter is served when it is the most urgent one and the bucket holds its weight, so a
    flood of market-data calls never delays a cancel by more than one refill.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        capacity: int | None = None,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60
        self.capacity = float(capacity if capacity is not None else max(1, per_minute // 6))
        self.tokens = self.capacity
        self._clock = clock
        self._updated: float | None = None
        self._paused_until = 0.0
        self._waiters: list[list[object]] = []
        self._order = itertools.count()
        self.spent = 0
        self.waited = 0

    def _refill(self) -> float:
        now = self._clock()
        if self._updated is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now
        return now

    def observe_used(self, used: int, *, wall: Callable[[], float] = time.time) -> None:
        """The exchange reports `used` weight spent in its current minute (every process
        on this IP counts): spend no more than what is left of `per_minute` in it."""
        left = self.per_minute - used
        if left <= 0:
            self.pause_for(60.0 - wall() % 60.0)
        else:
            self._refill()
            self.tokens = min(self.tokens, float(left))

    def pause_for(self, seconds: float) -> None:
        """Spend nothing for `seconds` (the exchange said Retry-After)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self.tokens = 0.0

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    async def take(self, weight: int, priority: Priority) -> None:
        """Wait until `weight` may be spent by a call of `priority`."""
        weight = min(weight, int(self.capacity))
        # [priority, arrival, wake-up event]: lists compare by the first two items only.
        entry: list[object] = [int(priority), next(self._order), trio.Event()]
        heapq.heappush(self._waiters, entry)
        try:
            while True:
                now = self._refill()
                event = entry[2]
                assert isinstance(event, trio.Event)
                if self._waiters[0] is entry:
                    if now < self._paused_until:
                        wait = self._paused_until - now
                    elif self.tokens >= weight:
                        self.tokens -= weight
                        self.spent += weight
                        heapq.heappop(self._waiters)
                        self._wake_head()
                        return
                    else:
                        wait = (weight - self.tokens) / self.rate
                    self.waited += 1
                    with trio.move_on_after(wait):
                        await event.wait()
                else:
                    self.waited += 1
                    await event.wait()
                if event.is_set():
                    entry[2] = trio.Event()
        except BaseException:
            was_head = bool(self._waiters) and self._waiters[0] is entry
            self._waiters = [w for w in self._waiters if w is not entry]
            heapq.heapify(self._waiters)
            if was_head:
                self._wake_head()
            raise

    def _wake_head(self) -> None:
        if self._waiters:
            event = self._waiters[0][2]
            assert isinstance(event, trio.Event)
            event.set()


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Opens after `threshold` failures in a row; stays open `open_s`, then lets one try."""

    def __init__(
        self,
        threshold: int = 5,
        open_s: float = 30.0,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.threshold = threshold
        self.open_s = open_s
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trips = 0
        self.last_error = ""

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self.opened_at >= self.open_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def retry_in_s(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.open_s - self._clock())

    def allows(self) -> bool:
        """May a call go out now? (Closed, or half-open for a trial.)"""
        return self.state is not BreakerState.OPEN

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self, message: str) -> bool:
        """Count a failure; True when this one opened (or re-opened) the breaker."""
        self.last_error = message
        self.failures += 1
        state = self.state
        if state is BreakerState.HALF_OPEN or (
            state is BreakerState.CLOSED and self.failures >= self.threshold
        ):
            self.opened_at = self._clock()
            self.trips += 1
            return True
        return False
