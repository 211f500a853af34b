"""The health report and the metrics of one engine, measured on its loop once a second.

The report goes to the metrics endpoint (when it is on) and to the health file that
`tradebot-tui status` reads. See `health` for the endpoint and the grading.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tradebot_tui import __version__
from tradebot_tui.away.health import (
    FEED_SILENT_S,
    MetricsEndpoint,
    Placements,
    Sample,
    grade,
    write_health,
)
from tradebot_tui.away.notifier import Notifier
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.gate import CoinHold, Pause
from tradebot_tui.core.lifecycle import State
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine.readings import Readings
from tradebot_tui.engine.supervisor import ServiceDown
from tradebot_tui.journal.tallies import Tallies

log = logging.getLogger("tradebot.monitor")

HEALTH_EVERY_S = 2.0


class Reporter:
    """Builds the health report and the metrics sample; serves and writes them."""

    def __init__(
        self,
        trader: Trader,
        stats: Tallies,
        readings: Readings,
        *,
        settings: Callable[[], Settings],
        notifier: Notifier | None,
        alerts: Callable[[], tuple[str, ...]],
        memory: Callable[[], float],
        fds: Callable[[], tuple[int, int]],
    ) -> None:
        self._trader = trader
        self._stats = stats
        self._read = readings
        self._settings = settings
        self._notifier = notifier
        self._alerts = alerts
        self._memory = memory
        self._fds = fds
        self.endpoint: MetricsEndpoint | None = None
        self.health_file: Path | None = None  # where `tradebot-tui status` reads
        self._placements = Placements()
        self._started = time.monotonic()
        self._last_ticks = (self._started, 0)

    @property
    def address(self) -> str:
        return self.endpoint.address if self.endpoint is not None else ""

    def close_endpoint(self) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None

    def write_stopped(self) -> None:
        """The health file says the bot stopped (`status` then says "stopped"); at the
        stop nothing would retry a failed write: it is logged."""
        if self.health_file is not None:
            try:
                self.write_health({**self.health(), "status": "stopped", "reasons": []})
            except OSError as exc:
                log.warning("health file %s: the stop not written: %s", self.health_file, exc)

    def listen(self, endpoint: MetricsEndpoint) -> None:
        """Serve `endpoint`.

        Raises:
            ServiceDown: it cannot listen (a port in use): the supervisor shows it and
                tries again later.
        """
        try:
            endpoint.start()
        except OSError as exc:
            raise ServiceDown(
                f"cannot listen on {endpoint.address}: {exc.strerror or exc}"
            ) from None
        self.endpoint = endpoint
        log.info("metrics on http://%s/metrics, health on /health", endpoint.address)

    # -- health and metrics -----------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        trader, read = self._trader, self._read
        state = read.state()
        feed = read.feed()
        last = read.last_tick_ms()
        lag = max(0.0, time.time() - last / 1000) if last else None
        problems = read.problems()
        # A position whose order is in doubt cannot be sold by its exits until that
        # order is settled: unprotected, the owner must look (failing).
        unprotected = sorted(
            s
            for s, b in trader.books.items()
            if b.position is not None and b.state in (State.ERROR, State.RECOVERING)
        )
        errors = sorted(
            s for s, b in trader.books.items() if b.state is State.ERROR and s not in unprotected
        )
        # With `exits.on_exchange`, a position whose list cannot rest (below the market's
        # minimum) keeps its exits in the bot only: they end with the process.
        bare = {
            s: why
            for s, b in sorted(trader.books.items())
            if b.position is not None
            and isinstance(why := trader.protection(b), str)
            and s not in unprotected
        }
        drift = trader.gate.detail(Pause.QUOTE_DRIFT)
        failing = [p for p in problems if p.startswith("journal")]
        tripped = trader.gate.detail(Pause.KILL_SWITCH)
        if tripped:
            failing.append(f"kill switch tripped: {tripped}")
        if unprotected:
            failing.append(
                f"unprotected: {', '.join(unprotected)} (an order in doubt holds the exits)"
            )
        if feed and lag is not None and lag > FEED_SILENT_S:
            failing.append(f"no price for {lag:.0f}s (feed {feed})")
        degraded = [
            *(p for p in problems if not p.startswith("journal")),
            *self._alerts(),
            "circuit breaker open" if read.circuit_open() else "",
            f"in error: {', '.join(errors)}" if errors else "",
            *(f"{s}: {why}" for s, why in trader.gate.held(CoinHold.MISMATCH).items()),
            f"entries held: {drift}" if drift else "",
            *(
                f"{s}: exits in the bot only, none on the exchange ({why})"
                for s, why in bare.items()
            ),
        ]
        status, reasons = grade(state, failing, degraded)
        ledger = trader.ledger
        return {
            "status": status,
            "reasons": reasons,
            "time": time.time(),
            "pid": os.getpid(),
            **read.info,
            "version": __version__,
            "profile": self._settings().exchange.profile,
            "state": state,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "quote": ledger.quote,
            "equity": str(round(trader.equity(), 2)),
            "free": str(round(ledger.free, 2)),
            "realized_pnl": str(round(ledger.realized_pnl, 2)),
            "positions": sorted(s for s, b in trader.books.items() if b.position is not None),
            "open_orders": len(trader.open_orders()),
            "exits_on_exchange": trader.params.exits.on_exchange,
            "unprotected_on_exchange": sorted(bare),
            "feed": feed,
            "feed_lag_s": round(lag, 1) if lag is not None else None,
            "ticks": read.ticks(),
            "trades": self._stats.total.trades,
            "away": read.away(),
        }

    def sample(self, late: float, health: dict[str, Any] | None = None) -> None:
        """Hand the metrics endpoint a fresh sample (`late`: how late the loop wakes)."""
        read, trader = self._read, self._trader
        if self.endpoint is None:
            return
        if health is None:
            health = self.health()
        ticks = read.ticks()
        now = time.monotonic()
        rate = (ticks - self._last_ticks[1]) / max(1e-9, now - self._last_ticks[0])
        self._last_ticks = (now, ticks)
        if read.router is not None:
            while read.router.placements:
                self._placements.add(read.router.placements.popleft())
        if self.endpoint is not None:
            exchange = read.exchange()
            notifier = self._notifier
            fds = self._fds()[0]
            stale_ms = self._settings().risk.stale_after_s * 1000
            last_ms = read.last_tick_ms()
            stale = sum(
                1 for b in trader.books.values() if stale_ms and last_ms - b.last_ts > stale_ms
            )
            lag = health["feed_lag_s"]
            self.endpoint.sample = Sample(
                gauges={
                    "up": 1.0,
                    "ticks_per_second": round(rate, 1),
                    "feed_lag_seconds": float(lag) if lag is not None else float("nan"),
                    "stale_symbols": float(stale),
                    "circuit_breaker_open": float(read.circuit_open()),
                    "request_weight_used": float(exchange.get("weight", 0)),
                    "reconciliation_drift": float(read.drift() or 0),
                    "equity": float(trader.equity()),
                    "free_budget": float(trader.ledger.free),
                    "open_positions": float(len(health["positions"])),
                    "event_loop_lag_seconds": late,
                    "process_rss_bytes": self._memory() * 1e6,
                    "process_open_fds": float(fds),
                    "alerts_active": float(len(health["reasons"])),
                },
                counters={
                    "ticks_total": float(ticks),
                    "fills_total": float(read.router.fill_count if read.router else 0),
                    "rejects_total": float(read.router.reject_count if read.router else 0),
                    "exchange_calls_total": float(exchange.get("calls", 0)),
                    "exchange_failures_total": float(exchange.get("failures", 0)),
                    "exchange_retries_total": float(exchange.get("retries", 0)),
                    "notifications_sent_total": float(notifier.sent if notifier else 0),
                    "notifications_failed_total": float(notifier.failures if notifier else 0),
                },
                info={**read.info, "profile": str(health["profile"]), "version": __version__},
                buckets=self._placements.cumulative(),
                placement_sum=self._placements.total,
                health=health,
            )

    def write_health(self, report: dict[str, Any]) -> None:
        """Write the health file.

        Raises:
            OSError: it cannot be written (a full disk, the folder gone): the health file
                service's supervisor shows it and tries again.
        """
        assert self.health_file is not None
        write_health(self.health_file, report)
