"""Alerts, heartbeat and daily summary: each is a log line, the header and a notification."""

from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal as D

import pytest

from tradebot_tui.away.monitor import HOUR_MS, MINUTE_MS, Monitor
from tradebot_tui.away.notifier import Notifier
from tradebot_tui.config.validate import from_dict
from tradebot_tui.core.book import Trade
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.market import replay_rules
from tradebot_tui.core.trader import ExitReason, Trader
from tradebot_tui.engine.context import Context
from tradebot_tui.engine.readings import Readings
from tradebot_tui.engine.supervisor import Supervisor
from tradebot_tui.engine.wording import trade_notice
from tradebot_tui.journal.tallies import Tallies

DAY_START = 1_767_225_600_000  # 2026-01-01 00:00 UTC


class Sent:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str]] = []

    def send(self, title: str, body: str, severity: str, timeout_s: float) -> str:
        self.messages.append((title, body, severity))
        return ""

    def prepare(self) -> None:
        pass

    def describe(self) -> str:
        return "a list"


class World:
    """A monitor over readings the test sets, in a time the test moves."""

    def __init__(self, **settings: object) -> None:
        self.settings = from_dict(settings, "test")  # type: ignore[arg-type]
        self.trader = Trader(self.settings.strategy_params(), Ledger("USDT", D(1000)), replay_rules)
        self.stats = Tallies()
        self.now = DAY_START + 10 * HOUR_MS
        self.breaker = False
        self.problems: tuple[str, ...] = ()
        self.drift: D | None = None
        self.rss = 100.0
        self.fds = (10, 1024)
        self.notifier = Notifier(Sent(), self.settings.notify)
        self.monitor = Monitor(
            self.trader,
            self.stats,
            Readings(
                state=lambda: "running",
                feed=lambda: "live 0.2s",
                circuit_open=lambda: self.breaker,
                problems=lambda: self.problems,
                drift=lambda: self.drift,
            ),
            Context(clock=lambda: self.now),
            settings=lambda: self.settings,
            notifier=self.notifier,
            memory=lambda: self.rss,
            fds=lambda: self.fds,
            supervisor=Supervisor(),
        )

    def pending(self) -> list[str]:
        titles = [e.title for e in self.notifier._pending]
        self.notifier._pending.clear()
        return titles


def test_the_breaker_opening_and_closing_is_an_alert_and_two_notifications(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = World()
    w.monitor.check()
    assert w.monitor.alerts() == () and w.pending() == []
    w.breaker = True
    w.monitor.check()
    w.monitor.check()  # said once, shown while it lasts
    assert w.monitor.alerts() == ()  # the header shows the breaker's own state
    assert w.pending() == ["Circuit breaker opened"]
    assert "alert: Circuit breaker opened" in caplog.text
    w.breaker = False
    w.monitor.check()
    assert w.monitor.alerts() == () and w.pending() == ["Circuit breaker closed: trading resumes"]


def test_a_budget_drift_over_the_threshold_alerts_and_clears() -> None:
    w = World()
    w.drift = D("-9.5")  # within 10 USDT: quiet
    w.monitor.check()
    assert w.monitor.alerts() == ()
    w.drift = D("-12.25")
    w.monitor.check()
    assert w.monitor.alerts() == ("USDT drift -12.25",)
    assert w.pending() == ["Budget drift -12.25 USDT"]
    w.drift = None  # orders in motion: not measured, the alert stays
    w.monitor.check()
    assert w.monitor.alerts() == ("USDT drift -12.25",)
    w.drift = D(0)
    w.monitor.check()
    assert w.monitor.alerts() == () and w.pending() == ["The USDT balance agrees again"]


def test_a_side_job_failing_is_notified_once_and_its_end_too() -> None:
    w = World()
    w.problems = ("journal cannot be written",)
    w.monitor.check()
    w.monitor.check()
    assert w.pending() == ["Journal cannot be written"]
    assert w.monitor.alerts() == ()  # the header shows the side job's own problem already
    w.problems = ()
    w.monitor.check()
    assert w.pending() == ["Resolved: journal cannot be written"]


def test_file_descriptors_over_80_percent_of_the_limit_alert() -> None:
    w = World()
    w.fds = (800, 1000)
    w.monitor.check()
    assert w.monitor.alerts() == ()
    w.fds = (801, 1000)
    w.monitor.check()
    assert w.monitor.alerts() == ("801 of 1000 files open",)
    assert w.pending() == ["File descriptors running out"]


def test_memory_growth_over_100_mb_an_hour_alerts_after_an_hour_of_samples() -> None:
    w = World()
    for minute in range(61):  # +1.5 MB a minute: 90 MB an hour, under the threshold
        w.now += MINUTE_MS
        w.rss = 100 + 1.5 * minute
        w.monitor.check()
    assert w.monitor.alerts() == ()
    for _ in range(30):  # then +3 MB a minute
        w.now += MINUTE_MS
        w.rss += 3
        w.monitor.check()
    assert w.monitor.alerts() and w.monitor.alerts()[0].startswith("memory +")
    assert w.pending() == ["Memory growing"]


def test_a_failed_order_notice_is_an_alert_for_a_while_and_is_notified() -> None:
    from tradebot_tui.engine.wording import unexplained_notice

    w = World()
    w.monitor.on_notice(w.now, unexplained_notice("BTC/USDT", "a fill that is not ours"))
    assert w.monitor.alerts() == ("order problem: BTC/USDT: unexplained order",)
    assert w.pending() == ["BTC/USDT: unexplained order"]
    w.now += 16 * MINUTE_MS
    w.monitor.check()
    assert w.monitor.alerts() == ()


def test_manual_exits_are_answers_not_notifications() -> None:
    w = World()
    trade = Trade("BTC/USDT", 0, D(100), 1, D(101), D(1), ExitReason.MANUAL, D("0.9"), D("0.1"))
    w.monitor.on_notice(w.now, trade_notice(trade, "USDT", 2))
    assert w.pending() == []
    w.monitor.on_notice(
        w.now,
        trade_notice(dataclasses.replace(trade, exit_reason=ExitReason.TAKE_PROFIT), "USDT", 2),
    )
    assert w.pending() == ["Sold BTC/USDT: take profit"]


def test_sales_asked_from_away_or_by_the_kill_switch_are_notified() -> None:
    w = World()
    trade = Trade("BTC/USDT", 0, D(100), 1, D(99), D(1), ExitReason.MANUAL, D("-1.1"), D("0.1"))
    w.monitor.on_notice(w.now, trade_notice(trade, "USDT", 2, news=True))  # /exitall
    killed = dataclasses.replace(trade, exit_reason=ExitReason.KILL_SWITCH)
    w.monitor.on_notice(w.now, trade_notice(killed, "USDT", 2))
    assert w.pending() == ["Sold BTC/USDT: manual", "Sold BTC/USDT: kill switch"]


def test_heartbeat_line_and_daily_summary(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "tradebot")
    w = World(monitor={"heartbeat_log_min": 15}, notify={"daily_at": "08:30"})
    w.now = DAY_START + 8 * HOUR_MS  # 08:00 UTC
    w.stats.add(
        Trade(
            "ETH/USDT",
            0,
            D(100),
            DAY_START - HOUR_MS,
            D(102),
            D(1),
            ExitReason.TAKE_PROFIT,
            D("1.8"),
            D("0.2"),
        )
    )
    w.stats.add(
        Trade(
            "ETH/USDT",
            0,
            D(100),
            DAY_START + HOUR_MS,
            D(99),
            D(1),
            ExitReason.STOP_LOSS,
            D("-1.2"),
            D("0.2"),
        )
    )
    for _ in range(31):
        w.monitor.check()
        w.now += MINUTE_MS
    beats = [r.getMessage() for r in caplog.records if r.getMessage().startswith("heartbeat")]
    assert beats == ["heartbeat: running, equity 1000.00 USDT, 0 positions, feed live 0.2s"] * 2
    sent = w.notifier._pending
    assert [e.title for e in sent] == ["Daily summary 2025-12-31"]
    body = sent[0].body
    assert "Yesterday (2025-12-31): 1 trade(s), 1 won, PnL +1.80 USDT" in body
    assert "Today so far: 1 trade(s), 0 won, PnL -1.20 USDT" in body
    assert "All time: 2 trade(s), PnL +0.60 USDT" in body
