"""Notifications to the owner's phone: events coalesced, rate-limited, sent off the loop.

The engine hands events to `Notifier.add` (never blocks). The notifier's task waits
`coalesce_s` after the first of a burst so that a burst goes out as one message, keeps to
`max_per_hour`, and sends through a `Sender` in a worker thread under a deadline: a slow or
failing service never delays an order. A failed send is kept and retried with a capped
backoff; while it fails the header says so, and the log says why (without the URL, which
carries a token). Events are only dropped past `MAX_PENDING`, and then counted.

What a failed send kept is also handed to `on_kept` (the engine writes it to the journal),
so that a restart sends it (`restore`) instead of losing it with the process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import trio

from tradebot_tui.config.settings import NotifySettings

log = logging.getLogger("tradebot.notify")

MAX_PENDING = 200
HOUR_S = 3600.0
BACKOFF_S = (5.0, 15.0, 60.0, 300.0)
TITLE = "tradebot-tui"

# The kinds of event, each turned on or off in the [notify] settings.
KINDS = ("fills", "errors", "breaker", "mismatch", "engine", "alerts", "daily", "heartbeat")


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    title: str
    body: str
    severity: str = "information"  # "warning", "error"


class Sender(Protocol):
    """Delivers one message; runs in a worker thread. Returns "" when every service took
    it, else why not (in words that carry no secret)."""

    def send(self, title: str, body: str, severity: str, timeout_s: float) -> str: ...

    def prepare(self) -> None:
        """Check the configuration (in a worker thread); raise what is wrong."""

    def describe(self) -> str:
        """Where messages go, in words that carry no secret."""


class AppriseSender:
    """Sends through Apprise to the owner's URLs (imported on first use: it is heavy)."""

    def __init__(self, urls: list[object]) -> None:
        self._urls = urls  # Secrets: revealed only to Apprise
        self._apprise: object | None = None

    def describe(self) -> str:
        return f"{len(self._urls)} Apprise URL{'s' if len(self._urls) != 1 else ''}"

    def prepare(self) -> None:
        self._load()

    def _load(self) -> object:
        if self._apprise is None:
            # Apprise logs through the root logger: its lines (URLs with tokens among them)
            # must reach neither the terminal nor our log files.
            alog = logging.getLogger("apprise")
            alog.addHandler(logging.NullHandler())
            alog.propagate = False
            import apprise

            bot = apprise.Apprise()
            for n, url in enumerate(self._urls, 1):
                if not bot.add(url.reveal()):  # type: ignore[attr-defined]
                    raise NotifyConfigError(f"notify URL #{n} is not an Apprise URL Apprise knows")
            self._apprise = bot
        return self._apprise

    def send(self, title: str, body: str, severity: str, timeout_s: float) -> str:
        import apprise

        bot = self._load()
        kind = {
            "warning": apprise.NotifyType.WARNING,
            "error": apprise.NotifyType.FAILURE,
        }.get(severity, apprise.NotifyType.INFO)
        result = bot.notify(body=body, title=title, notify_type=kind, timeout=timeout_s)  # type: ignore[attr-defined]
        if result:
            return ""
        failed = []
        for r in result:
            if not r:
                how = "timed out" if r.status == apprise.AppriseResultStatus.TIMEOUT else "failed"
                failed.append(f"{r.name} {how}")
        return ", ".join(failed) or "no service accepted it"


@dataclass(slots=True)
class _Sending:
    """One send running in a worker thread."""

    count: int  # events in it
    dropped: int
    why: str = "timed out"
    done: threading.Event = field(default_factory=threading.Event)


class NotifyConfigError(Exception):
    """The notification URLs cannot be used."""


def render(events: list[Event], dropped: int = 0) -> tuple[str, str, str]:
    """One message for a burst: (title, body, severity)."""
    worst = max(
        (e.severity for e in events), key=("information", "warning", "error").index, default=""
    )
    if len(events) == 1 and not dropped:
        e = events[0]
        return f"{TITLE}: {e.title}", e.body, e.severity
    lines = [f"• {e.title}" + (f": {e.body}" if e.body else "") for e in events]
    if dropped:
        lines.append(f"… and {dropped} more event(s) not kept (too many at once)")
    return f"{TITLE}: {len(events) + dropped} events", "\n".join(lines), worst or "information"


class Notifier:
    """Coalesces, rate-limits and sends events; never blocks the engine."""

    def __init__(
        self,
        sender: Sender,
        settings: NotifySettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        changed: Callable[[], None] = lambda: None,
        backoff_s: tuple[float, ...] = BACKOFF_S,
    ) -> None:
        self._sender = sender
        self._backoff = backoff_s
        self.settings = settings
        self._clock = clock
        self._changed = changed
        self._pending: deque[Event] = deque()
        self._cut_off: _Sending | None = None  # a send a stop cut off, still in its thread
        self._dropped = 0
        self._wake = trio.Event()
        self._sent_at: deque[float] = deque()
        self.problem = ""
        self.sent = 0
        self.failures = 0
        # Told what is kept unsent (JSON, see `kept`) after a failed send, and again once
        # it is sent: the engine keeps it in the journal for a restart.
        self.on_kept: Callable[[str], None] | None = None
        self._kept = False  # what on_kept was last told held events

    def wants(self, kind: str) -> bool:
        """Whether events of this kind are turned on."""
        s = self.settings
        switches = {
            "fills": s.fills,
            "errors": s.errors,
            "breaker": s.breaker,
            "mismatch": s.mismatch,
            "engine": s.engine,
            "alerts": s.alerts,
            "daily": bool(s.daily_at),
            "heartbeat": s.heartbeat_min > 0,
        }
        return switches.get(kind, False)

    def add(self, kind: str, title: str, body: str = "", severity: str = "information") -> None:
        """Queue an event for sending (dropped when its kind is turned off)."""
        if not self.wants(kind):
            return
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            self._dropped += 1
        self._pending.append(Event(kind, title, body, severity))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def kept(self) -> str:
        """The events not sent yet, and the count dropped, as JSON."""
        events = [[e.kind, e.title, e.body, e.severity] for e in self._pending]
        return json.dumps({"events": events, "dropped": self._dropped})

    def restore(self, raw: str, where: str) -> int:
        """Queue, ahead of anything new, the events a stopped run could not send (`kept`);
        how many. A value that does not read is logged, naming `where`, and skipped."""
        try:
            data = json.loads(raw)
            events = [Event(*map(str, e)) for e in data["events"]]
            dropped = int(data["dropped"])
        except (ValueError, TypeError, KeyError) as exc:
            log.error("%s: unsent notifications from before the restart unreadable: %s", where, exc)
            return 0
        if not events:
            return 0
        log.info("%d notification(s) from before the restart are sent now", len(events))
        self._pending.extendleft(reversed(events))
        self._dropped += dropped
        while len(self._pending) > MAX_PENDING:
            self._pending.pop()
            self._dropped += 1
        self._kept = True
        self._wake.set()
        return len(events)

    def _keep(self) -> None:
        if self.on_kept is not None and (self._pending or self._kept):
            self.on_kept(self.kept())
            self._kept = bool(self._pending)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send what comes, until cancelled. The URLs are checked first (a URL Apprise does
        not know is in the header at once, not at the first fill)."""
        task_status.started()
        log.info("notifications: %s", self._sender.describe())
        try:
            await trio.to_thread.run_sync(self._sender.prepare, abandon_on_cancel=True)
        except Exception as exc:
            self.problem = f"notifications failing: {exc}"
            log.error("notifications cannot be sent: %s", exc)
            self._changed()
        failures = 0
        while True:
            if not self._pending:
                self._wake = trio.Event()
                await self._wake.wait()
            await trio.sleep(self.settings.coalesce_s)  # the rest of the burst
            await self._rate_slot()
            ok = await self.flush()
            if ok:
                failures = 0
            else:
                await trio.sleep(self._backoff[min(failures, len(self._backoff) - 1)])
                failures += 1

    async def _rate_slot(self) -> None:
        window = self._sent_at
        while len(window) >= self.settings.max_per_hour:
            wait = window[0] + HOUR_S - self._clock()
            if wait <= 0:
                window.popleft()
            else:
                await trio.sleep(wait)

    def _send(self, sending: _Sending, title: str, body: str, severity: str, timeout: float) -> str:
        """In a worker thread: one send, its outcome kept for a later look (`_settle`)."""
        try:
            sending.why = self._sender.send(title, body, severity, timeout)
        except Exception as exc:  # a sender bug or a bad URL: reported, never raised
            sending.why = f"{type(exc).__name__}: {exc}"
        finally:
            sending.done.set()
        return sending.why

    async def _settle(self, deadline_s: float) -> None:
        """A send cut off by a stop is still running in its thread: wait for it (within
        the deadline), and if it went through, do not say its events again."""
        sending = self._cut_off
        if sending is None:
            return
        self._cut_off = None
        done = await trio.to_thread.run_sync(sending.done.wait, deadline_s, abandon_on_cancel=True)
        if done and not sending.why:
            for _ in range(min(sending.count, len(self._pending))):
                self._pending.popleft()  # they were put back first: delivered after all
            self._dropped = max(0, self._dropped - sending.dropped)
            self.sent += 1

    async def flush(self, deadline_s: float | None = None) -> bool:
        """Send everything pending as one message now; False when it failed (kept).

        With `deadline_s` (the last message, at a stop), a send that a stop cut off is
        waited for first, so the last message comes last and says nothing twice."""
        if deadline_s is not None:
            with trio.move_on_after(deadline_s):
                await self._settle(deadline_s)
        if not self._pending:
            return True
        events, dropped = list(self._pending), self._dropped
        self._pending.clear()
        self._dropped = 0
        title, body, severity = render(events, dropped)
        timeout = deadline_s if deadline_s is not None else self.settings.timeout_s
        why = "timed out"
        sending = _Sending(len(events), dropped)
        with trio.move_on_after(timeout + 1):
            try:
                why = await trio.to_thread.run_sync(
                    self._send, sending, title, body, severity, timeout, abandon_on_cancel=True
                )
            except trio.Cancelled:
                # Stopping while the send is in flight: kept, and the last message (see
                # `_settle`) says them again unless this send goes through meanwhile.
                self._pending.extendleft(reversed(events))
                self._dropped += dropped
                self._cut_off = sending
                raise
        if not why:
            self._sent_at.append(self._clock())
            self.sent += 1
            self._keep()  # what was kept is sent: the journal forgets it
            if self.problem:
                log.info("notifications are delivered again")
                self.problem = ""
                self._changed()
            return True
        self.failures += 1
        # Kept for the next attempt, in their order, ahead of what came meanwhile.
        self._pending.extendleft(reversed(events))
        self._dropped += dropped
        while len(self._pending) > MAX_PENDING:
            self._pending.pop()
            self._dropped += 1
        self._keep()
        if not self.problem:
            log.warning(
                "notification not sent (%s); %d event(s) kept, retried", why, len(self._pending)
            )
        self.problem = f"notifications failing: {why}"
        self._changed()
        return False
