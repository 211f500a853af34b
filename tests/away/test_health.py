"""/metrics and /health over HTTP on 127.0.0.1: read-only, measured on the loop, honest."""

from __future__ import annotations

import dataclasses
import json
import select
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import START_MS, sim_engine
from tradebot_tui.away.health import MetricsEndpoint, grade, read_health, write_health
from tradebot_tui.away.monitor import Monitor
from tradebot_tui.config.settings import MonitorSettings, Settings
from tradebot_tui.core.gate import Pause
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.readings import fd_use
from tradebot_tui.wiring.away import plug_away


def settings_on(port: int) -> Settings:
    return dataclasses.replace(Settings(), monitor=MonitorSettings(metrics=True, metrics_port=port))


def get(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def engine_not_started() -> tuple[Engine, Any]:
    """An engine on a short simulated market, with the away services plugged, not run:
    its health is read straight from the trader's state the test sets."""
    engine = sim_engine(steps=10)
    return engine, plug_away(engine)


def run_engine_and(
    settings: Settings, probe: Any, steps: int = 1_000_000, health_file: Path | None = None
) -> Engine:
    engine = sim_engine(settings, steps=steps)
    monitor = plug_away(engine, health_file=health_file)

    async def main() -> None:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await probe(engine, monitor)
                nursery.cancel_scope.cancel()

    trio.run(main)
    return engine


def test_metrics_and_health_are_served_read_only() -> None:
    seen: dict[str, Any] = {}

    async def probe(engine: Engine, monitor: Monitor) -> None:
        with trio.fail_after(10):
            while engine.trades < 3 or monitor.endpoint is None:
                await trio.sleep(0.05)
            await trio.sleep(1.2)  # a sample after the trades
        url = f"http://{monitor.metrics_address}"
        for name, path, method in (
            ("metrics", "/metrics", "GET"),
            ("health", "/health", "GET"),
            ("post", "/metrics", "POST"),
            ("missing", "/orders", "GET"),
        ):
            seen[name] = await trio.to_thread.run_sync(get, url + path, method)
        seen["header"] = engine.snapshot().away

    run_engine_and(settings_on(0), probe)
    status, text = seen["metrics"]
    assert status == 200
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert values["tradebot_up"] == 1 and values["tradebot_ticks_total"] > 1000
    assert values["tradebot_fills_total"] >= 6 and values["tradebot_rejects_total"] == 0
    assert values["tradebot_order_placement_seconds_count"] >= 6
    for name in (
        "tradebot_ticks_per_second",
        "tradebot_feed_lag_seconds",
        "tradebot_stale_symbols",
        "tradebot_circuit_breaker_open",
        "tradebot_request_weight_used",
        "tradebot_reconciliation_drift",
        "tradebot_equity",
        "tradebot_free_budget",
        "tradebot_open_positions",
        "tradebot_event_loop_lag_seconds",
        "tradebot_process_rss_bytes",
        "tradebot_process_open_fds",
        "tradebot_exchange_retries_total",
    ):
        assert name in values, name
    assert values["tradebot_process_rss_bytes"] > 10e6
    status, body = seen["health"]
    report = json.loads(body)
    assert status == 200 and report["status"] == "ok" and report["mode"] == "PAPER"
    assert seen["post"][0] == 405 and seen["missing"][0] == 404
    assert seen["header"].startswith("metrics 127.0.0.1:")


def test_a_port_already_taken_is_a_clear_problem_and_trading_goes_on() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        seen: dict[str, Any] = {}

        async def probe(engine: Engine, monitor: Monitor) -> None:
            with trio.fail_after(10):
                while not engine.snapshot().problems:
                    await trio.sleep(0.02)
            seen["problems"] = engine.snapshot().problems
            ticks = engine.ticks
            with trio.fail_after(10):
                while engine.ticks < ticks + 1000:
                    await trio.sleep(0.02)

        run_engine_and(settings_on(port), probe)
    (problem,) = seen["problems"]
    assert problem.startswith(f"metrics: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in problem


def test_grades() -> None:
    assert grade("running", [], []) == ("ok", [])
    assert grade("running", [""], ["circuit breaker open", ""]) == (
        "degraded",
        ["circuit breaker open"],
    )
    assert grade("running", ["journal cannot be written"], ["x"])[0] == "failing"
    assert grade("stopping", [], []) == ("failing", ["the engine is stopping"])


def test_a_health_file_that_is_old_says_the_bot_is_not_answering(tmp_path: Any) -> None:
    path = tmp_path / "health.json"
    assert read_health(path) == ("not running", {})
    write_health(path, {"status": "ok", "reasons": [], "time": 1000.0})
    assert read_health(path, now=1005.0)[0] == "ok"
    status, report = read_health(path, now=1100.0)
    assert status == "failing" and "no report for 100s" in report["reasons"][0]
    path.write_text("{not json")
    status, report = read_health(path)
    assert status == "unreadable" and "not JSON" in report["reasons"][0]


def test_a_tripped_kill_switch_is_failing() -> None:
    engine, monitor = engine_not_started()
    assert monitor.reporter.health()["status"] != "failing"
    engine.trader.gate.pause(Pause.KILL_SWITCH, "equity 899.00 USDT fell to 900.00")
    health = monitor.reporter.health()
    assert health["status"] == "failing"
    assert "kill switch tripped: equity 899.00 USDT fell to 900.00" in health["reasons"]


def test_idle_connections_are_closed_and_too_many_are_refused() -> None:
    """250 connections that send nothing: the process never holds more than the cap of
    them, each is closed (over the cap on arrival, the rest once idle), and then the
    endpoint answers as before."""
    endpoint = MetricsEndpoint("127.0.0.1", 0, idle_s=2.0, max_connections=8)
    endpoint.start()
    before = fd_use()[0]
    sockets: list[socket.socket] = []
    try:
        for _ in range(250):
            sockets.append(socket.create_connection(("127.0.0.1", endpoint.port), timeout=5))
        time.sleep(0.5)  # accepted by now; the served ones are still idle
        server_side = fd_use()[0] - before - len(sockets)
        assert server_side <= 8 + 2, server_side  # the cap (and the listening socket)
        open_ = list(sockets)
        deadline = time.monotonic() + 20
        while open_ and time.monotonic() < deadline:
            readable, _, _ = select.select(open_, [], [], 1.0)
            for s in readable:
                assert s.recv(1) == b""  # closed by the server, nothing sent
                open_.remove(s)
        assert open_ == [] and endpoint.refused >= 250 - 8 * 4
        status, body = get(f"http://127.0.0.1:{endpoint.port}/health")
        assert status == 503 and json.loads(body)["reasons"] == ["the engine is starting"]
    finally:
        for s in sockets:
            s.close()
        endpoint.stop()


_TOKEN = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=12)
_REQUESTS = st.one_of(
    # Anything at all: bytes that are not HTTP, cut requests, binary noise.
    st.binary(max_size=600),
    # Requests of HTTP's shape with odd parts: any method, path, version and headers.
    st.builds(
        lambda method, path, version, headers, body: (
            f"{method} {path} {version}\r\n".encode("latin-1", "replace")
            + b"".join(f"{k}: {v}\r\n".encode("latin-1", "replace") for k, v in headers)
            + b"\r\n"
            + body
        ),
        st.one_of(st.sampled_from(["GET", "HEAD", "POST", "OPTIONS", "BREW"]), _TOKEN),
        st.one_of(
            st.sampled_from(["/metrics", "/health", "/", "*", "/metrics?x=1&y", "//.."]),
            st.text(max_size=300),
        ),
        st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/9.9", "HTTP/1.a", ""]),
        st.lists(
            st.tuples(
                st.sampled_from(["Host", "Content-Length", "Connection", "Expect", "X"]),
                st.one_of(st.sampled_from(["-1", "999999", "close", "100-continue"]), _TOKEN),
            ),
            max_size=6,
        ),
        st.binary(max_size=64),
    ),
)


@pytest.fixture(scope="module")
def endpoint_under_fire() -> Any:
    endpoint = MetricsEndpoint("127.0.0.1", 0, idle_s=0.3, max_connections=8)
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@given(request=_REQUESTS)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_requests_of_any_shape_get_an_http_answer_or_a_close_and_nothing_breaks(
    endpoint_under_fire: MetricsEndpoint, request: bytes
) -> None:
    endpoint = endpoint_under_fire
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as s:
        try:
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close first (a line too long): that is an answer too
        answer = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        assert time.monotonic() < deadline, "the connection was never closed"
    assert answer == b"" or answer.startswith(b"HTTP/1."), answer[:80]
    assert endpoint.errors == 0
    # And the endpoint still serves.
    status, _ = get(f"http://127.0.0.1:{endpoint.port}/health")
    assert status == 503


def test_a_position_whose_exits_wait_for_an_order_in_doubt_is_failing() -> None:
    from decimal import Decimal as D

    from tradebot_tui.core.book import Position
    from tradebot_tui.core.lifecycle import State

    engine, monitor = engine_not_started()
    symbol = "BTC/USDT"
    book = engine.trader.book(symbol)
    book.position = Position(symbol, D(1), D(100), D(0), START_MS, D(1), D(100))
    book.state = State.IN_POSITION
    assert monitor.reporter.health()["status"] != "failing"  # its exits can fire
    book.state = State.ERROR  # an order of it in doubt: nothing is sold until it settles
    health = monitor.reporter.health()
    assert health["status"] == "failing"
    assert f"unprotected: {symbol} (an order in doubt holds the exits)" in health["reasons"]
    book.position = None  # in error without a position: a problem, not a danger
    health = monitor.reporter.health()
    assert health["status"] == "degraded" and f"in error: {symbol}" in health["reasons"]


def test_a_health_file_that_cannot_be_written_is_shown_retried_and_trading_goes_on(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # the health file's folder is a file: every write fails
    seen: dict[str, Any] = {}

    async def probe(engine: Engine, monitor: Monitor) -> None:
        with trio.fail_after(10):
            while not any(p.startswith("health file failing") for p in engine.snapshot().problems):
                await trio.sleep(0.05)
            ticks = engine.ticks
            while engine.ticks == ticks:  # trading goes on
                await trio.sleep(0.05)
        seen["problems"] = engine.snapshot().problems
        seen["failures"] = engine.supervisor.failures.get("health file", 0)

    run_engine_and(Settings(), probe, health_file=blocker / "health.json")
    assert any("NotADirectoryError" in p for p in seen["problems"]), seen["problems"]
    assert seen["failures"] >= 1


def test_with_exits_on_the_exchange_a_position_without_a_list_is_counted_and_degraded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from decimal import Decimal as D

    from tradebot_tui.cli.status import status_lines
    from tradebot_tui.core.book import Position
    from tradebot_tui.core.lifecycle import State

    on = Settings()
    on = dataclasses.replace(on, exits=dataclasses.replace(on.exits, on_exchange=True))
    engine = sim_engine(on, steps=10)
    monitor = plug_away(engine)
    held = {"BTC/USDT": D("0.002"), "ETH/USDT": D("0.00001")}  # the second: below a step
    for symbol, qty in held.items():
        book = engine.trader.book(symbol)
        book.position = Position(symbol, qty, D(100), D(0), START_MS, qty, D(100))
        book.watch = engine.trader.positions.exit_watch(book.position)
        book.state = State.IN_POSITION
        book.rules = dataclasses.replace(book.rules, min_notional=D(5))
        book.last_price, book.last_ts = 50_000.0, START_MS
    health = monitor.reporter.health()
    assert health["exits_on_exchange"] is True
    assert health["unprotected_on_exchange"] == ["ETH/USDT"]
    assert health["status"] == "degraded"
    assert any(
        r == "ETH/USDT: exits in the bot only, none on the exchange (amount rounds to zero)"
        for r in health["reasons"]
    )
    text = status_lines("degraded", health, Path("health.json"))
    assert "exits on the exchange: 1 of 2 position(s) protected (not: ETH/USDT)" in text
