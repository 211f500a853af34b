"""Health and metrics for a monitoring system: `/health` (JSON), `/metrics` (Prometheus).

Everything is measured on the engine's loop once a second and handed over as immutable
values; the HTTP server runs in a thread of its own and only serves those values, so it
never touches trading state and a slow scraper never slows trading. The endpoint is
read-only (GET), bound to 127.0.0.1 unless configured otherwise, and off by default.
The health report is also written to `health.json` in the data dir, where
`tradebot-tui status` reads it (metrics on or not).

Health: `ok`; `degraded` (trading goes on with something wrong: an alert, the breaker,
a coin in error, a side job failing); `failing` (not trading as it should: stopping, the
journal cannot be written, no price for a minute, or the loop not answering).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradebot_tui.core.errors import error_text

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

log = logging.getLogger("tradebot.monitor")

# Seconds from sending an order to the broker's first answer.
PLACEMENT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FEED_SILENT_S = 60.0  # no price for this long (live feeds): failing
STALE_REPORT_S = 10.0  # a report older than this: the loop is not answering
HEALTH_FILE = "health.json"


@dataclass(frozen=True, slots=True)
class Sample:
    """One second's measurements, made on the engine's loop."""

    gauges: dict[str, float]
    counters: dict[str, float]
    info: dict[str, str]
    buckets: tuple[int, ...]  # cumulative counts per PLACEMENT_BUCKETS, then +Inf
    placement_sum: float
    health: dict[str, Any]
    made: float = field(default_factory=time.time)


def grade(state: str, failing: Iterable[str], degraded: Iterable[str]) -> tuple[str, list[str]]:
    """(status, reasons): failing wins over degraded, which wins over ok."""
    bad = [r for r in failing if r]
    if state == "stopping":
        bad.insert(0, "the engine is stopping")
    if bad:
        return "failing", bad
    worse = [r for r in degraded if r]
    return ("degraded", worse) if worse else ("ok", [])


class Placements:
    """The placement-latency histogram, fed from the router's recent latencies."""

    def __init__(self) -> None:
        self.counts = [0] * (len(PLACEMENT_BUCKETS) + 1)
        self.total = 0.0

    def add(self, seconds: float) -> None:
        self.total += seconds
        for n, bound in enumerate(PLACEMENT_BUCKETS):
            if seconds <= bound:
                self.counts[n] += 1
                return
        self.counts[-1] += 1

    def cumulative(self) -> tuple[int, ...]:
        out, running = [], 0
        for count in self.counts:
            running += count
            out.append(running)
        return tuple(out)


HELP = {
    "up": "1 while the engine runs.",
    "ticks_per_second": "Ticks processed per second over the last second.",
    "feed_lag_seconds": "Age of the newest price (wall clock less its timestamp).",
    "stale_symbols": "Watched symbols without a price for risk.stale_after_s.",
    "circuit_breaker_open": "1 while the exchange circuit breaker is open.",
    "request_weight_used": "Exchange request weight used in the current minute.",
    "reconciliation_drift": "Exchange quote balance less the ledger's, in quote units.",
    "equity": "Free and reserved budget plus open positions at their last price.",
    "free_budget": "Quote budget free for new entries.",
    "open_positions": "Positions open now.",
    "event_loop_lag_seconds": "How late the engine loop ran a one-second timer.",
    "process_rss_bytes": "Resident memory of the process.",
    "process_open_fds": "Open file descriptors of the process.",
    "alerts_active": "Alerts in force (see /health for the reasons).",
    "ticks_total": "Ticks processed.",
    "fills_total": "Fills received.",
    "rejects_total": "Orders rejected or failed.",
    "exchange_calls_total": "Exchange calls made.",
    "exchange_failures_total": "Exchange calls that failed.",
    "exchange_retries_total": "Exchange calls retried.",
    "notifications_sent_total": "Notifications delivered.",
    "notifications_failed_total": "Notification attempts that failed.",
}


class _Collector:
    """prometheus_client's view of the latest sample (read in the server's thread)."""

    def __init__(self, endpoint: MetricsEndpoint) -> None:
        self._endpoint = endpoint

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            InfoMetricFamily,
        )

        sample = self._endpoint.sample
        if sample is None:
            return
        yield InfoMetricFamily("tradebot", "The running bot.", value=sample.info)
        for name, value in sample.gauges.items():
            yield GaugeMetricFamily(f"tradebot_{name}", HELP.get(name, name), value=value)
        for name, value in sample.counters.items():
            base = name.removesuffix("_total")
            yield CounterMetricFamily(f"tradebot_{base}", HELP.get(name, name), value=value)
        bounds = [*(str(b) for b in PLACEMENT_BUCKETS), "+Inf"]
        yield HistogramMetricFamily(
            "tradebot_order_placement_seconds",
            "Seconds from sending an order to the broker's first answer.",
            buckets=list(zip(bounds, sample.buckets, strict=True)),
            sum_value=sample.placement_sum,
        )


IDLE_S = 5.0  # a connection that sends nothing for this long is closed
MAX_CONNECTIONS = 16  # connections served at once; more are closed at once


class MetricsEndpoint:
    """`/metrics` and `/health` over HTTP in a thread; the loop hands it samples.

    Idle connections are closed after `idle_s` and at most `max_connections` are served
    at once (more are closed on arrival): a client that opens many and sends nothing
    cannot use up the process's open files (the journal's and the health file's).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        idle_s: float = IDLE_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.host, self.port = host, port
        self.idle_s = idle_s
        self.max_connections = max_connections
        self.refused = 0  # connections closed on arrival: too many at once
        self.errors = 0  # requests whose handling failed (logged, never raised)
        self.sample: Sample | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def health_body(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON) of the latest report; failing when it is too old."""
        sample = self.sample
        if sample is None:
            return 503, {"status": "failing", "reasons": ["the engine is starting"]}
        report = dict(sample.health)
        age = time.time() - sample.made
        if age > STALE_REPORT_S:
            report["status"] = "failing"
            report["reasons"] = [f"the engine loop has not answered for {age:.0f}s"]
        return (200 if report["status"] != "failing" else 503), report

    def start(self) -> None:
        """Listen (raises OSError when the address is taken or not ours)."""
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "tradebot-tui"
            # Every answer has a status line, to a request of HTTP/0.9's shape too.
            default_request_version = "HTTP/1.0"
            timeout = endpoint.idle_s  # socket timeout: an idle connection is closed

            def log_message(self, *args: object) -> None:  # scrapes are not news
                pass

            def _answer(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif path == "/health":
                    status, report = endpoint.health_body()
                    body = json.dumps(report, indent=1).encode()
                    self._answer(status, "application/json", body)
                else:
                    self._answer(404, "text/plain", b"not found: try /metrics or /health\n")

            do_HEAD = do_GET

            def _refuse(self) -> None:
                self.send_response(405)
                self.send_header("Allow", "GET, HEAD")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

        slots = threading.BoundedSemaphore(self.max_connections)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128  # a burst waits to be accepted (then served or closed)

            def process_request(self, request: Any, client_address: Any) -> None:
                if not slots.acquire(blocking=False):
                    endpoint.refused += 1
                    self.shutdown_request(request)
                    return
                super().process_request(request, client_address)

            def process_request_thread(self, request: Any, client_address: Any) -> None:
                try:
                    super().process_request_thread(request, client_address)
                finally:
                    slots.release()

            def handle_error(self, request: Any, client_address: Any) -> None:
                # socketserver prints a traceback to stderr (the terminal the app draws
                # on): one counted log line instead; the connection is closed.
                endpoint.errors += 1
                exc = sys.exc_info()[1]
                log.warning(
                    "metrics: a request from %s failed: %s",
                    client_address[0] if client_address else "?",
                    error_text(exc) if exc is not None else "unknown",
                )

        server = Server((self.host, self.port), Handler)
        self.port = server.server_address[1]  # port 0: the one the OS gave
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="tradebot-metrics", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def write_health(path: Path, report: dict[str, Any]) -> None:
    """Replace the health file at once (a reader never sees half of it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(path)


MAX_REPORT_BYTES = 1 << 20  # a health report is a few hundred bytes: more is not one
STATUSES = ("ok", "degraded", "failing", "stopped")
# The fields `status` reads, with the types a report of ours has (others are ignored).
_TYPES: dict[str, tuple[type, ...]] = {
    "state": (str,),
    "mode": (str,),
    "source": (str,),
    "quote": (str,),
    "equity": (str,),
    "free": (str,),
    "feed": (str,),
    "away": (str,),
    "uptime_s": (int, float),
    "feed_lag_s": (int, float, type(None)),
    "open_orders": (int,),
    "trades": (int,),
    "ticks": (int,),
}


class UnreadableReport(Exception):
    """The health file is not a health report of ours; the message says why."""


def load_report(path: Path) -> dict[str, Any] | None:
    """The report in the health file at `path`, checked; None when there is no file.

    Never blocks (a FIFO or a device is refused without being read) and never reads
    more than `MAX_REPORT_BYTES`.

    Raises:
        UnreadableReport: what is wrong with the file, in a few words.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnreadableReport(exc.strerror or str(exc)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnreadableReport("not a regular file")
        data = os.read(fd, MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise UnreadableReport(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if len(data) > MAX_REPORT_BYTES:
        raise UnreadableReport(f"larger than {MAX_REPORT_BYTES} bytes")
    try:
        report = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise UnreadableReport(f"not JSON ({str(exc)[:60]})") from None
    return checked(report)


def checked(report: Any) -> dict[str, Any]:
    """`report` when it has the shape of ours.

    Raises:
        UnreadableReport: the first thing that is not as a report of ours has it.
    """
    if not isinstance(report, dict):
        raise UnreadableReport("not a health report (not an object)")
    status = report.get("status")
    if status not in STATUSES:
        raise UnreadableReport(f"not a health report (status {_short(status)})")
    when = report.get("time")
    if not isinstance(when, int | float) or not _number(when) or not 0 <= when < 1e11:
        raise UnreadableReport(f"time {_short(when)} is not a time")
    pid = report.get("pid")
    if pid is not None and (
        not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 1 << 31
    ):
        raise UnreadableReport(f"pid {_short(pid)} is not a process id")
    reasons = report.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise UnreadableReport("reasons is not a list of texts")
    positions = report.get("positions", [])
    if not isinstance(positions, list) or not all(isinstance(s, str) for s in positions):
        raise UnreadableReport("positions is not a list of symbols")
    for key, types in _TYPES.items():
        value = report.get(key)
        if key in report and (not isinstance(value, types) or isinstance(value, bool)):
            raise UnreadableReport(f"{key} {_short(value)} is not of its type")
    return report


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_health(path: Path, *, now: float | None = None) -> tuple[str, dict[str, Any]]:
    """(status, report) of the instance whose health file this is.

    `not running` when there is no report, the bot said it stopped, or its process is
    gone (at once, however fresh its last report); `failing` when the report is older
    than STALE_REPORT_S; `unreadable` (with the reason) when the file is not a report.
    """
    try:
        report = load_report(path)
    except UnreadableReport as exc:
        return "unreadable", {"reasons": [f"{path}: unreadable: {exc}"]}
    if report is None:
        return "not running", {}
    if report["status"] == "stopped":
        return "not running", report
    pid = report.get("pid")
    if isinstance(pid, int) and not pid_alive(pid):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(report["time"]))
        reasons = [
            f"pid {pid} is gone: it stopped without saying so after {when} UTC (killed or crashed)"
        ]
        return "not running", {**report, "state": "not running", "reasons": reasons}
    age = (now if now is not None else time.time()) - report["time"]
    if age > STALE_REPORT_S:
        reasons = [f"no report for {age:.0f}s: the bot is not answering (killed or stuck)"]
        return "failing", {**report, "reasons": reasons}
    return str(report["status"]), report
