"""Watching the bot for its owner: alerts, the heartbeat, the daily summary.

Once a second the monitor looks at what an owner away from the terminal must hear about:
the circuit breaker, side jobs failing, the balance drifting from the ledger, file
descriptors running out, memory growing, orders that failed. Each alert is a log line,
an entry in the header while it lasts, and a notification (when notifications are set
up). It also writes a heartbeat line to the log, sends the daily summary and the
optional heartbeat message, and keeps the health report (`reporting`) current. It reads
and never trades.

It is a service plugged into the engine (engine.services): the engine runs it, shows its
alerts and header and tells it when it stops; it runs the notifier and the remote
control (Telegram) beside its own loop.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Protocol

import trio

from tradebot_tui.away.health import MetricsEndpoint
from tradebot_tui.away.notifier import Notifier
from tradebot_tui.away.reporting import HEALTH_EVERY_S, Reporter
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.gate import CoinHold, Pause
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine.context import Context
from tradebot_tui.engine.readings import Readings, fd_use, rss_mb
from tradebot_tui.engine.supervisor import Supervisor
from tradebot_tui.engine.wording import NoticeText
from tradebot_tui.journal.store import JournalError
from tradebot_tui.journal.tallies import Tallies, utc_day
from tradebot_tui.journal.writer import JournalWriter

log = logging.getLogger("tradebot.monitor")

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
FAILED_ORDER_SHOWN_MS = 15 * MINUTE_MS
UNSENT = "unsent_notifications"  # journal meta key: what a failed send kept (JSON)
STOP_DEADLINE_S = 5.0  # at most this long is added to a quit by its last message


class Remote(Protocol):
    """A remote control the monitor runs (Telegram): its problem is an alert, its header a
    word in the status bar."""

    name: str
    problem: str

    def header(self) -> str: ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...


class Monitor:
    """Alerts, heartbeat and daily summary of one engine."""

    name = "monitor"

    def __init__(
        self,
        trader: Trader,
        stats: Tallies,
        readings: Readings,
        context: Context,
        *,
        settings: Callable[[], Settings],
        notifier: Notifier | None,
        memory: Callable[[], float] = rss_mb,
        fds: Callable[[], tuple[int, int]] = fd_use,
        journal: JournalWriter | None = None,
        health_file: Path | None = None,
        supervisor: Supervisor,
    ) -> None:
        self._trader = trader
        self._stats = stats
        self._read = readings
        self._settings = settings
        self.notifier = notifier
        self._journal = journal
        if notifier is not None and journal is not None:
            # What a failed send kept survives a restart: sent now, kept while unsent.
            raw = journal.journal.meta(UNSENT)
            if raw:
                notifier.restore(raw, f"{journal.journal.path}: meta {UNSENT!r}")
            notifier.on_kept = partial(journal.meta_later, UNSENT)
        self._now = context.now
        self._changed = context.changed
        self._memory = memory
        self._fds = fds
        self._active: dict[str, str] = {}  # alert key -> header text
        self._memory_samples: deque[tuple[int, float]] = deque()
        self._failed_order: tuple[int, str] | None = None
        self._next_heartbeat_log: int | None = None
        self._next_heartbeat: int | None = None
        self._next_daily: int | None = None
        self._held_seen: frozenset[str] = frozenset()
        self._breaker_open = False
        self.services: list[Remote] = []
        # The engine's: what it shows is among the engine's problems (the side jobs').
        self.supervisor = supervisor
        self._late = 0.0  # how late the last round woke (s)
        self.reporter = Reporter(
            trader,
            stats,
            readings,
            settings=settings,
            notifier=notifier,
            alerts=self.alerts,
            memory=memory,
            fds=fds,
        )
        self.reporter.health_file = health_file  # where `tradebot-tui status` reads

    # -- what others read ------------------------------------------------------------------

    def alerts(self) -> tuple[str, ...]:
        """The alerts in force, for the header."""
        # The side jobs' problems and the breaker are in the header already, and so is a
        # drift that holds entries ("entries held: …" with both figures).
        held = self._trader.gate.holds(Pause.QUOTE_DRIFT)
        shown = [
            t
            for k, t in self._active.items()
            if t and not k.startswith("job:") and not (k == "drift" and held)
        ]
        shown.extend(s.problem for s in self.services if s.problem)
        if self._failed_order is not None:
            shown.append(self._failed_order[1])
        if self.notifier is not None and self.notifier.problem:
            shown.append(self.notifier.problem)
        return tuple(shown)

    def header(self) -> str:
        """What reaches the owner away from the terminal, for the header."""
        parts = []
        if self.notifier is not None:
            parts.append("notify" if not self.notifier.problem else "notify failing")
        parts.extend(s.header() for s in self.services if s.header())
        if self.metrics_address:
            parts.append(f"metrics {self.metrics_address}")
        return " · ".join(parts)

    def notify(self, kind: str, title: str, body: str = "", severity: str = "information") -> None:
        if self.notifier is not None:
            self.notifier.add(kind, title, body, severity)

    def on_notice(self, ts_ms: int, text: NoticeText) -> None:
        """A notice shown on the screen: notified too when it is news (not an answer to
        a key the trader pressed); an order that failed is an alert for a while."""
        if text.answer or not text.event:
            return
        self.notify(text.event, text.title, text.message, text.severity)
        # An order never sent (the journal could not hold it, a shutdown) is the cause's
        # to show (the header says the journal fails), not an order problem of its own.
        if text.event == "errors" and text.severity == "error" and "not sent" not in text.message:
            self._failed_order = (self._now(), f"order problem: {text.title}")
            log.warning("alert: %s: %s", text.title, text.message)
            self._changed()

    async def stopped(self, why: str, *, crashed: bool) -> None:
        """The engine stops: say so (and why) before the notifier goes, within its deadline."""
        if self.notifier is None:
            return
        title = "Engine crashed" if crashed else "Engine stopped"
        self.notify("engine", title, why, "error" if crashed else "warning")
        if self._journal is not None:  # its writer has stopped: what stays unsent is
            self.notifier.on_kept = self._keep_now  # written at once
        await self.notifier.flush(min(self.notifier.settings.timeout_s, STOP_DEADLINE_S))

    def _keep_now(self, value: str) -> None:
        assert self._journal is not None
        try:
            self._journal.journal.set_meta(UNSENT, value)
        except (JournalError, sqlite3.Error) as exc:
            log.error("unsent notifications not kept for the restart: %s", exc)

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The monitor's own round (check every second), the metrics endpoint, the health
        file, the notifier and the remote controls: each under the supervisor, so that
        one failing is shown and restarted while the others and trading go on."""
        run = self.supervisor.run
        async with trio.open_nursery() as nursery:
            if self.notifier is not None:
                await nursery.start(partial(run, "notifier", self.notifier.run))
            # Not "monitor": that is the name this whole service runs under.
            await nursery.start(partial(run, "monitor rounds", self._rounds))
            if self._settings().monitor.metrics:
                await nursery.start(partial(run, "metrics", self._serve_metrics))
            if self.reporter.health_file is not None:
                await nursery.start(partial(run, "health file", self._keep_health))
            for service in self.services:
                await nursery.start(partial(run, service.name, service.run))
            task_status.started()

    async def _rounds(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Every second: check, and measure how late the loop wakes (a metric)."""
        task_status.started()
        while True:
            self.check()
            started = trio.current_time()
            await trio.sleep(1)
            self._late = max(0.0, trio.current_time() - started - 1)

    async def _serve_metrics(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve `/metrics` and `/health`; hand the endpoint a fresh sample every second."""
        settings = self._settings().monitor
        self.reporter.listen(MetricsEndpoint(settings.metrics_host, settings.metrics_port))
        task_status.started()
        try:
            while True:
                self.reporter.sample(self._late)
                await trio.sleep(1)
        finally:
            self.reporter.close_endpoint()

    async def _keep_health(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep the health file current (`tradebot-tui status`); at the stop, say so."""
        task_status.started()
        try:
            while True:
                self.reporter.write_health(self.reporter.health())
                await trio.sleep(HEALTH_EVERY_S)
        except trio.Cancelled:
            self.reporter.write_stopped()
            raise

    @property
    def metrics_address(self) -> str:
        return self.reporter.address

    @property
    def endpoint(self) -> MetricsEndpoint | None:
        return self.reporter.endpoint

    def check(self) -> None:
        """Look once at everything watched (the loop does it every second)."""
        now = self._now()
        settings = self._settings()
        before = dict(self._active)
        self._breaker()
        self._side_jobs()
        self._balance(settings)
        self._resources(now, settings)
        if self._failed_order is not None and now - self._failed_order[0] > FAILED_ORDER_SHOWN_MS:
            self._failed_order = None
            self._changed()
        if self._active != before:
            self._changed()
        self._schedule(now, settings)

    def _raise(self, key: str, header: str, kind: str, title: str, body: str) -> None:
        if key not in self._active:
            log.warning("alert: %s: %s", title, body)
            self.notify(kind, title, body, "warning")
        self._active[key] = header

    def _clear(self, key: str, kind: str, title: str) -> None:
        if self._active.pop(key, None) is not None:
            log.info("alert over: %s", title)
            self.notify(kind, title)

    def _breaker(self) -> None:
        is_open = self._read.circuit_open()
        if is_open and not self._breaker_open:
            self._raise(
                "breaker",
                "",
                "breaker",
                "Circuit breaker opened",
                "The exchange failed repeatedly: entries and polling pause; exits go on.",
            )
        elif not is_open and self._breaker_open:
            self._clear("breaker", "breaker", "Circuit breaker closed: trading resumes")
        self._breaker_open = is_open

    def _side_jobs(self) -> None:
        problems = set(self._read.problems())
        for key in [k for k in self._active if k.startswith("job:")]:
            if key[4:] not in problems:
                self._clear(key, "alerts", f"Resolved: {key[4:]}")
        for problem in problems:
            self._raise(f"job:{problem}", problem, "alerts", problem.capitalize(), "Retried.")

    def _balance(self, settings: Settings) -> None:
        trader = self._trader
        quote = settings.budget.quote
        drift = self._read.drift()
        limit = Decimal(repr(settings.monitor.drift_alert))
        if drift is not None and abs(drift) > limit:
            self._raise(
                "drift",
                f"{quote} drift {drift:+.2f}",
                "mismatch",
                f"Budget drift {drift:+.2f} {quote}",
                f"The exchange's {quote} balance differs from the ledger by more than "
                f"{limit} {quote}.",
            )
        elif drift is not None:
            self._clear("drift", "mismatch", f"The {quote} balance agrees again")
        drift_held = trader.gate.detail(Pause.QUOTE_DRIFT)
        if drift_held is not None:
            self._raise(
                "quote",
                "",  # the header says "entries held: …" with both figures already
                "mismatch",
                "Balance mismatch: entries stopped",
                drift_held,
            )
        else:
            self._clear("quote", "mismatch", f"The {quote} balance matches the ledger again")
        mismatched = trader.gate.held(CoinHold.MISMATCH)
        held = frozenset(mismatched)
        for symbol in held - self._held_seen:
            self.notify("mismatch", f"{symbol}: holding mismatch", mismatched[symbol], "warning")
        self._held_seen = held

    def _resources(self, now: int, settings: Settings) -> None:
        count, limit = self._fds()
        if limit and count > limit * settings.monitor.fd_alert_pct / 100:
            self._raise(
                "fds",
                f"{count} of {limit} files open",
                "alerts",
                "File descriptors running out",
                f"{count} open of a limit of {limit}.",
            )
        elif limit:
            self._clear("fds", "alerts", "File descriptor use is back to normal")
        samples = self._memory_samples
        if not samples or now - samples[-1][0] >= MINUTE_MS:
            samples.append((now, self._memory()))
            while now - samples[0][0] > HOUR_MS:
                samples.popleft()
        if len(samples) > 1 and now - samples[0][0] >= HOUR_MS - MINUTE_MS:
            growth = samples[-1][1] - samples[0][1]
            if growth > settings.monitor.memory_alert_mb_h:
                self._raise(
                    "memory",
                    f"memory +{growth:.0f} MB/h",
                    "alerts",
                    "Memory growing",
                    f"+{growth:.0f} MB in the last hour ({samples[-1][1]:.0f} MB now).",
                )
            else:
                self._clear("memory", "alerts", "Memory growth is back to normal")

    # -- heartbeat and daily summary --------------------------------------------------------

    def heartbeat_text(self) -> str:
        trader = self._trader
        quote = trader.ledger.quote
        held = sorted(s for s, b in trader.books.items() if b.position is not None)
        names = f" ({', '.join(held[:8])}{', …' if len(held) > 8 else ''})" if held else ""
        return (
            f"{self._read.state()}, equity {trader.equity():.2f} {quote}, "
            f"{len(held)} position{'s' if len(held) != 1 else ''}{names}, "
            f"feed {self._read.feed() or 'n/a'}"
        )

    def daily_text(self, now: int) -> tuple[str, str]:
        """The summary of yesterday (UTC) and today so far."""
        quote = self._trader.ledger.quote
        yesterday, today = utc_day(now - DAY_MS), utc_day(now)
        lines = []
        for label, day in ((f"Yesterday ({yesterday})", yesterday), ("Today so far", today)):
            t = self._stats.day(day)
            won = f", {t.wins} won" if t.trades else ""
            lines.append(f"{label}: {t.trades} trade(s){won}, PnL {t.pnl:+.2f} {quote}")
        total = self._stats.total
        lines.append(f"All time: {total.trades} trade(s), PnL {total.pnl:+.2f} {quote}")
        lines.append(self.heartbeat_text())
        return f"Daily summary {yesterday}", "\n".join(lines)

    def _schedule(self, now: int, settings: Settings) -> None:
        every = settings.monitor.heartbeat_log_min * MINUTE_MS
        if every:
            if self._next_heartbeat_log is None:
                self._next_heartbeat_log = now + every
            elif now >= self._next_heartbeat_log:
                self._next_heartbeat_log = now + every
                log.info("heartbeat: %s", self.heartbeat_text())
        every = settings.notify.heartbeat_min * MINUTE_MS
        if every and self.notifier is not None and now >= (self._next_heartbeat or 0):
            if self._next_heartbeat is not None:
                self.notify("heartbeat", "Alive", self.heartbeat_text())
            self._next_heartbeat = now + every
        at = settings.notify.daily_at
        if at and self.notifier is not None:
            hours, minutes = int(at[:2]), int(at[3:])
            due = now - now % DAY_MS + (hours * 60 + minutes) * MINUTE_MS
            if self._next_daily is None:
                self._next_daily = due if due > now else due + DAY_MS
            elif now >= self._next_daily:
                self._next_daily = due if due > now else due + DAY_MS
                self.notify("daily", *self.daily_text(now))
