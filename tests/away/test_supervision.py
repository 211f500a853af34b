"""Nothing from outside the process stops trading: every service off the trading path runs
under the engine's supervisor, which catches what it raises (save cancellation), logs the
cause, shows it and restarts the service with back-off (docs/architecture.md, "Services
off the trading path")."""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import random
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.away.test_telegram import OWNER, TOKEN, ask
from tests.fake_notify import NotifyTarget
from tests.fake_telegram import FakeTelegram
from tests.helpers import START_MS, sim_market
from tradebot_tui.away.notifier import AppriseSender, Notifier
from tradebot_tui.away.telegram import TelegramApi, TelegramRemote
from tradebot_tui.config.credentials import Secret, TelegramAccess
from tradebot_tui.config.settings import (
    MonitorSettings,
    NotifySettings,
    Settings,
    TelegramSettings,
)
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.logs import LoggingSetup
from tradebot_tui.engine.supervisor import ServiceDown, Supervisor, cause_chain
from tradebot_tui.exchange.paper import PaperBroker
from tradebot_tui.wiring.away import plug_away


class InjectedFault(RuntimeError):
    """What a test makes a service raise."""


def fail_once(obj: Any, attr: str, record: list[str], name: str) -> None:
    """Make `obj.attr` raise InjectedFault (caused by a KeyError) at its next call only."""
    original = getattr(obj, attr)
    fired = [False]

    def maybe_raise() -> None:
        if not fired[0]:
            fired[0] = True
            record.append(name)
            try:
                raise KeyError("the cause")
            except KeyError as cause:
                raise InjectedFault(f"injected into {name}") from cause

    if inspect.iscoroutinefunction(original):

        async def patched(*args: Any, **kwargs: Any) -> Any:
            maybe_raise()
            return await original(*args, **kwargs)

    else:

        def patched(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            maybe_raise()
            return original(*args, **kwargs)

    setattr(obj, attr, patched)


class Paced:
    """A source at most `per_s` batches a second (a step of every coin, one second of
    market time each): trades come every few seconds and the machine stays free."""

    def __init__(self, inner: Any, per_s: float = 500) -> None:
        self.inner = inner
        self.name = inner.name
        self.pause_s = 1 / per_s

    def markets(self) -> Any:
        return self.inner.markets()

    def side_loops(self, send: Any) -> list[Any]:
        return []

    async def run(self, send: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        inner_send, inner_recv = trio.open_memory_channel[Any](1)
        async with trio.open_nursery() as nursery:
            await nursery.start(self.inner.run, inner_send)
            task_status.started()
            async for batch in inner_recv:
                await send.send(batch)
                await trio.sleep(self.pause_s)


async def until(condition: Callable[[], object], seconds: float = 30, why: object = "") -> None:
    try:
        with trio.fail_after(seconds):
            while not condition():
                await trio.sleep(0.02)
    except trio.TooSlowError:
        raise AssertionError(f"not met in {seconds} s: {why() if callable(why) else why}") from None


def test_an_exception_in_each_side_service_is_caught_shown_restarted_and_trading_goes_on(
    tmp_path: Path,
) -> None:
    settings = Settings()
    settings = settings.__class__(
        **{
            **{f: getattr(settings, f) for f in settings.__dataclass_fields__},
            "monitor": MonitorSettings(metrics=True, metrics_port=0),
            "notify": NotifySettings(coalesce_s=0.1, timeout_s=2.0, daily_at=""),
        }
    )
    logging_setup = LoggingSetup()
    logging_setup.start(tmp_path / "logs")
    injected: list[str] = []
    log_problems: list[str] = []
    seen: dict[str, Any] = {}
    try:
        with NotifyTarget() as target, FakeTelegram(TOKEN) as telegram:
            engine = Engine(
                settings,
                # A market that cannot run out while the test waits, however slow; paced
                # so that the side services get their share of the machine.
                Paced(sim_market(settings, steps=100_000_000, realtime=False)),
                PaperBroker(settings.exchange.fee_rate),
                clock=lambda: START_MS,
                recordings=tmp_path / "recordings",
            )
            engine.supervisor.first_s = 0.05  # restart at once: the test waits for it
            notifier = Notifier(AppriseSender([Secret(target.url())]), settings.notify)
            access = TelegramAccess(Secret(TOKEN), frozenset({OWNER}), "test")
            remote = TelegramRemote(
                TelegramApi(telegram.url, Secret(TOKEN)),
                access,
                TelegramSettings(poll_s=1, confirm_s=60),
            )
            monitor = plug_away(
                engine, notifier=notifier, remote=remote, health_file=tmp_path / "health.json"
            )
            assert engine.recorder is not None
            file_handler = logging_setup._file_handler
            assert file_handler is not None
            faults: list[tuple[str, Any, str]] = [
                ("telegram", remote, "_poll"),
                ("notifier", notifier, "flush"),
                ("metrics", monitor.reporter, "sample"),
                ("health file", monitor.reporter, "write_health"),
                ("monitor rounds", monitor, "check"),
                ("recorder", engine.recorder, "_write"),
            ]

            async def main() -> None:
                with trio.fail_after(120):
                    async with trio.open_nursery() as nursery:
                        await nursery.start(engine.run)
                        await until(
                            lambda: engine.trades >= 1 and target.received(),
                            30,
                            lambda: (
                                engine.trades,
                                target.attempts,
                                notifier.sent,
                                notifier.failures,
                                notifier.problem,
                                len(notifier._pending),
                                engine.snapshot().problems,
                            ),
                        )
                        trades, sent = engine.trades, len(target.received())
                        for name, obj, attr in faults:
                            fail_once(obj, attr, injected, name)

                        # The log file: its stream fails under the writing thread.
                        class Broken:
                            def __getattr__(self, name: str) -> Any:
                                if "log file" not in injected:
                                    injected.append("log file")
                                raise InjectedFault("injected into the log file")

                        handle_error = file_handler.handleError

                        def noted(record: logging.LogRecord) -> None:
                            handle_error(record)
                            log_problems.append(file_handler.problem)

                        # Noted first: the writing thread may meet the broken stream at once.
                        file_handler.handleError = noted  # type: ignore[method-assign]
                        file_handler.stream = Broken()
                        logging.getLogger("tradebot.test").info("a line into the broken file")
                        await until(lambda: len(injected) == len(faults) + 1, 30, lambda: injected)
                        await until(lambda: log_problems, 30, lambda: log_problems)
                        # Each failure is shown while it lasts.
                        shown: set[str] = set()

                        def all_shown() -> bool:
                            shown.update(engine.snapshot().problems)
                            names = {p.split(" failing")[0] for p in shown}
                            return {n for n, *_ in faults} <= names

                        await until(all_shown)
                        seen["shown"] = sorted(shown)
                        # Each service runs again, and works.
                        await until(
                            lambda: all(
                                engine.supervisor.failures.get(n) == 1
                                and n in engine.supervisor.running
                                for n, *_ in faults
                            )
                        )
                        seen["/status"] = await ask(telegram, "/status")
                        await until(lambda: len(target.received()) > sent)
                        address = monitor.metrics_address
                        body = await trio.to_thread.run_sync(
                            lambda: urllib.request.urlopen(
                                f"http://{address}/metrics", timeout=5
                            ).read()
                        )
                        seen["metrics"] = body.decode()
                        recorded = engine.recorder.recorded  # type: ignore[union-attr]
                        await until(lambda: engine.recorder.recorded > recorded)  # type: ignore[union-attr]
                        health = tmp_path / "health.json"
                        written = health.stat().st_mtime_ns
                        await until(lambda: health.stat().st_mtime_ns > written, 15)
                        logging.getLogger("tradebot.test").info("the file works again")
                        # And trading went on all along.
                        await until(lambda: engine.trades > trades + 2)
                        seen["ticking"] = engine.state.value
                        nursery.cancel_scope.cancel()

            trio.run(main)
    finally:
        logging_setup.stop()
    assert sorted(injected) == sorted([*(n for n, *_ in faults), "log file"])
    for name, *_ in faults:
        assert any(
            p.startswith(f"{name} failing: InjectedFault: injected into {name} <- KeyError")
            for p in seen["shown"]
        ), (name, seen["shown"], seen["/status"])
    assert log_problems[0].startswith("log file failing: InjectedFault")
    # Still degraded: a problem is shown until its service has run a minute again.
    assert seen["/status"].startswith("DEGRADED · PAPER · running")
    assert "tradebot_up 1.0" in seen["metrics"]
    assert seen["ticking"] == "running"
    lines = [json.loads(x) for x in (tmp_path / "logs" / "tradebot.jsonl").read_text().splitlines()]
    logged = [x["msg"] for x in lines if x["logger"] == "tradebot.supervisor"]
    for name, *_ in faults:
        assert any(
            m.startswith(f"{name} failed (InjectedFault: injected into {name} <- KeyError")
            and "trading goes on" in m
            for m in logged
        ), (name, logged)
    assert any(x["msg"] == "the file works again" for x in lines)
    assert not any("exc" in x for x in lines)  # no traceback on the way


# -- the supervisor alone ---------------------------------------------------------------------


def test_restarts_back_off_and_a_healthy_run_clears_the_problem(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "tradebot")
    supervisor = Supervisor(first_s=1.0, cap_s=4.0, healthy_s=0.3, rng=random.Random(7))
    starts: list[float] = []
    seen: list[tuple[str, ...]] = []

    async def flaky(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        starts.append(trio.current_time())
        if len(starts) <= 4:
            raise ValueError(f"failure {len(starts)}")
        task_status.started()
        await trio.sleep_forever()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            # A service failing before it is ready holds nobody's start.
            with trio.fail_after(0.5):
                await nursery.start(supervisor.run, "flaky", flaky)
            while len(starts) < 5:
                await trio.sleep(0.01)
            seen.append(supervisor.problems())
            deadline = time.monotonic() + 1
            while supervisor.problems() and time.monotonic() < deadline:
                time.sleep(0.05)  # noqa: ASYNC251  # healthy_s runs on the monotonic clock
            seen.append(supervisor.problems())
            nursery.cancel_scope.cancel()

    clock = trio.testing.MockClock(autojump_threshold=0)
    trio.run(main, clock=clock)
    waits = [b - a for a, b in itertools.pairwise(starts)]
    # Back-off with full jitter: each wait in [first/2, top], top 1, 2, 4, 4 (the cap).
    for wait, top in zip(waits, (1.0, 2.0, 4.0, 4.0), strict=True):
        assert 0.5 <= wait <= top + 1e-6, waits
    assert max(waits) > 2  # it grew
    assert seen[0] == ("flaky failing: ValueError: failure 4",)
    assert seen[1] == ()
    assert supervisor.failures == {"flaky": 4}
    messages = [r.getMessage() for r in caplog.records]
    assert "flaky runs again" in messages


async def forever(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """A service that runs until cancelled."""
    task_status.started()
    await trio.sleep_forever()


def test_cancellation_goes_through_and_is_no_failure() -> None:
    supervisor = Supervisor()

    async def main() -> None:
        with trio.move_on_after(0.1) as scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(supervisor.run, "forever", forever)
        assert scope.cancelled_caught

    trio.run(main)
    assert supervisor.failures == {} and supervisor.problems() == ()


def test_two_services_of_one_name_are_refused() -> None:
    """Failures, problems and health are kept by name: two of one name would mix them."""
    supervisor = Supervisor()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run, "monitor", forever)
            with pytest.raises(ValueError, match="a service named 'monitor' already runs"):
                await supervisor.run("monitor", forever)
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_a_service_that_cannot_run_now_says_why_in_words() -> None:
    supervisor = Supervisor(first_s=10)

    async def busy(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        raise ServiceDown("cannot listen on 127.0.0.1:9090: Address already in use")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run, "metrics", busy)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert supervisor.problems() == (
        "metrics: cannot listen on 127.0.0.1:9090: Address already in use",
    )


def test_the_cause_chain_is_one_line_with_each_error_of_a_group() -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError as cause:
            raise ValueError("outer\nsecond line") from cause
    except ValueError as exc:
        chained = exc
    group = ExceptionGroup("two", [chained, OSError(5, "I/O error")])
    assert cause_chain(group) == (
        "ValueError: outer second line <- KeyError: 'inner'; OSError: [Errno 5] I/O error"
    )
