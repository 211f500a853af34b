"""One supervisor for every service off the trading path (docs/architecture.md,
"Services off the trading path").

Telegram, the notifier, the metrics endpoint, the health file, the tick recorder, the
universe refresh: each runs under `Supervisor.run`. Whatever such a service raises, save
cancellation, is caught at its boundary: logged once with its cause, shown (the header,
the health report, a notification through the monitor) and the service started again
after a back-off (1 s doubling to 60 s, with jitter). Trading never sees it. A service
that has run for a minute since its last failure is healthy again: its problem is
cleared and its back-off starts over.

A service that fails before it said it was ready does not hold the engine's start: the
supervisor says "started" for it and keeps retrying behind.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from tradebot_tui.core.errors import error_text, leaf_errors
from tradebot_tui.exchange.resilience import backoff_s

log = logging.getLogger("tradebot.supervisor")

FIRST_S = 1.0
CAP_S = 60.0
HEALTHY_S = 60.0  # running this long since the last failure clears the problem


def cause_chain(exc: BaseException, limit: int = 3) -> str:
    """What failed and what caused it, one line, no traceback: `A: x <- B: y` (each error
    of an exception group, joined by "; ")."""
    return "; ".join(_chain(leaf, limit) for leaf in leaf_errors(exc))


def _chain(exc: BaseException, limit: int) -> str:
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and len(parts) < limit and id(current) not in seen:
        seen.add(id(current))
        parts.append(error_text(current, 160))
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return " <- ".join(parts)


class ServiceDown(Exception):
    """A service cannot run now, for the reason its message gives in words (a port in
    use): shown as `<service>: <message>` and retried like any failure."""


class _StartedOnce:
    """The task status handed to a service: the first `started()` only reaches trio."""

    def __init__(self, status: trio.TaskStatus[None]) -> None:
        self._status = status
        self.done = False

    def started(self, value: Any = None) -> None:
        if not self.done:
            self.done = True
            self._status.started()


class Supervisor:
    """Runs side services; catches, logs, shows and restarts what fails."""

    def __init__(
        self,
        *,
        changed: Callable[[], None] = lambda: None,
        first_s: float = FIRST_S,
        cap_s: float = CAP_S,
        healthy_s: float = HEALTHY_S,
        rng: random.Random | None = None,
    ) -> None:
        self._changed = changed
        self.first_s = first_s
        self.cap_s = cap_s
        self.healthy_s = healthy_s
        self._rng = rng or random.Random()
        self._problems: dict[str, str] = {}
        self.failures: dict[str, int] = {}  # per service, since the start
        self.running: set[str] = set()
        self._clear_at: dict[str, float] = {}

    def problems(self) -> tuple[str, ...]:
        """What fails right now, a few words each ("telegram failing: …"); a service
        restarted and running for `healthy_s` since is no longer one."""
        now = time.monotonic()
        for name, when in list(self._clear_at.items()):
            if name in self.running and now >= when:
                del self._clear_at[name]
                if self._problems.pop(name, None) is not None:
                    log.info("%s runs again", name)
        return tuple(self._problems.values())

    async def run(
        self,
        name: str,
        service: Callable[..., Awaitable[object]],
        *args: Any,
        signals_start: bool = True,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run `service(*args, task_status=…)` (or `service(*args)` when it does not
        signal its start) until cancelled, restarting it whenever it fails or ends."""
        if name in self.running:  # its failures, problem and health would mix with another's
            raise ValueError(f"a service named {name!r} already runs under this supervisor")
        status = _StartedOnce(task_status)
        attempt = 0
        while True:
            began = time.monotonic()
            self.running.add(name)
            try:
                if signals_start:
                    await service(*args, task_status=status)
                else:
                    status.started()
                    await service(*args)
                why = "ended by itself"
                failure: BaseException | None = None
            except trio.Cancelled:
                raise
            except ServiceDown as exc:
                why, failure = str(exc), None
            except Exception as exc:  # the boundary: nothing goes past it but cancellation
                why = cause_chain(exc)
                failure = exc
            finally:
                self.running.discard(name)
            status.started()  # a service that failed before it was ready holds nothing
            if time.monotonic() - began >= self.healthy_s:
                attempt = 0
            wait = backoff_s(attempt, self.first_s, self.cap_s, self._rng)
            attempt += 1
            self.failures[name] = self.failures.get(name, 0) + 1
            log.error(
                "%s failed (%s); trading goes on; restarting it in %.1f s",
                name,
                why,
                wait,
                exc_info=failure if log.isEnabledFor(logging.DEBUG) else None,
            )
            shown = f"{name}: {why}" if failure is None else f"{name} failing: {why}"
            self._problems[name] = shown[:120]
            self._changed()
            await trio.sleep(wait)
            log.info("%s: restarting (failure %d)", name, self.failures[name])
            # The problem stays shown until the restarted service has run `healthy_s`.
            self._clear_at[name] = time.monotonic() + self.healthy_s
