"""Notifications: Apprise posting to a target on 127.0.0.1, end to end, and when it fails.

The engine trades on the simulated market; its notifier sends through real Apprise (the
`json://` service) to a local receiver that can fail, hang or ask for a login. Sending is
never allowed to slow trading: the ticks keep coming while the target misbehaves.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import trio

from tests.fake_notify import NotifyTarget
from tests.helpers import START_MS, sim_market
from tradebot_tui.away.monitor import UNSENT
from tradebot_tui.away.notifier import AppriseSender, Notifier, render
from tradebot_tui.config.credentials import Secret, SecretsError, load_notify_urls
from tradebot_tui.config.settings import NotifySettings, Settings
from tradebot_tui.engine.engine import Engine
from tradebot_tui.engine.logs import redact
from tradebot_tui.exchange.paper import PaperBroker
from tradebot_tui.journal.store import Journal
from tradebot_tui.wiring.away import plug_away

FAST = NotifySettings(coalesce_s=0.2, timeout_s=2.0, daily_at="")


def engine_with(notifier: Notifier, steps: int = 3000, journal: Journal | None = None) -> Engine:
    settings = Settings()
    engine = Engine(
        settings,
        sim_market(settings, steps=steps, realtime=False),
        PaperBroker(settings.exchange.fee_rate),
        clock=lambda: START_MS,
        journal=journal,
    )
    plug_away(engine, notifier=notifier)
    return engine


async def wait_for(condition: object, seconds: float = 10) -> None:
    with trio.fail_after(seconds):
        while not condition():  # type: ignore[operator]
            await trio.sleep(0.02)


def test_fills_and_exits_reach_the_phone_and_the_stop_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "s3cretTokenXYZ"
    with NotifyTarget(user="bot", password=password) as target:
        url = Secret(target.url())
        notifier = Notifier(AppriseSender([url]), FAST)
        engine = engine_with(notifier)

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await wait_for(lambda: any("Sold" in m["message"] for m in target.received()))
                nursery.cancel_scope.cancel()

        trio.run(main)
        messages = target.received()
    text = "\n".join(f"{m['title']}\n{m['message']}" for m in messages)
    assert "Bought" in text and "PnL" in text  # fills, and exits with their PnL
    last = messages[-1]["title"] + "\n" + messages[-1]["message"]
    assert "Engine stopped" in last  # said before the notifier went
    assert all(m["title"].startswith("tradebot-tui") for m in messages)
    # The URL (its password) is nowhere: not in the log, not in what was sent.
    assert password not in caplog.text and password not in text
    assert password not in redact(f"sending to {target.url()}")
    assert notifier.problem == "" and notifier.pending == 0


def test_a_failing_target_is_retried_reported_and_never_stops_trading(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "tradebot")
    with NotifyTarget() as target:
        target.fail_next = 3
        notifier = Notifier(AppriseSender([Secret(target.url())]), FAST, backoff_s=(0.2,))
        engine = engine_with(notifier, steps=1_000_000)
        seen: dict[str, object] = {}

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await wait_for(lambda: notifier.problem)
                seen["header"] = engine.snapshot().problems
                ticks = engine.ticks
                await wait_for(lambda: engine.ticks > ticks + 100)  # trading goes on
                await wait_for(lambda: target.received() and not notifier.problem)
                nursery.cancel_scope.cancel()

        trio.run(main)
    assert any(p.startswith("notifications failing") for p in seen["header"])  # type: ignore[attr-defined]
    assert "notification not sent" in caplog.text and "delivered again" in caplog.text
    assert target.attempts >= 4 and notifier.failures >= 3
    # Nothing was lost: the first message held the events of the failed attempts.
    first = target.received()[0]
    assert "Bought" in first["title"] + first["message"]


def test_a_target_that_hangs_times_out_and_the_engine_does_not_wait() -> None:
    with NotifyTarget() as target:
        target.delay_s = 3.0
        settings = NotifySettings(coalesce_s=0.0, timeout_s=0.5, daily_at="")
        notifier = Notifier(AppriseSender([Secret(target.url())]), settings, backoff_s=(30,))
        engine = engine_with(notifier, steps=100_000)
        seen: dict[str, int] = {}

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                notifier.add("errors", "Test", "hang")
                await wait_for(lambda: target.attempts >= 1)
                seen["ticks_at_send"] = engine.ticks
                with trio.move_on_after(1.0):  # the sender is stuck in its thread meanwhile
                    await trio.sleep_forever()
                seen["ticks_after"] = engine.ticks
                await wait_for(lambda: notifier.problem)
                nursery.cancel_scope.cancel()

        trio.run(main)
    assert seen["ticks_after"] > seen["ticks_at_send"] + 100
    assert "timed out" in notifier.problem or "TIMEOUT" in notifier.problem.upper()
    assert notifier.pending >= 1  # kept for the next attempt


def test_bursts_are_coalesced_and_the_rate_is_capped() -> None:
    sent: list[tuple[str, str]] = []

    class Recorder:
        def send(self, title: str, body: str, severity: str, timeout_s: float) -> str:
            sent.append((title, body))
            return ""

        def prepare(self) -> None:
            pass

        def describe(self) -> str:
            return "a list"

    settings = NotifySettings(coalesce_s=0.1, max_per_hour=2, daily_at="", fills=False)
    notifier = Notifier(Recorder(), settings)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(notifier.run)
            for n in range(5):
                notifier.add("errors", f"Order {n} rejected", "insufficient balance", "error")
            notifier.add("fills", "Bought X", "turned off: never sent")
            await wait_for(lambda: len(sent) == 1)
            notifier.add("alerts", "Second burst")
            await wait_for(lambda: len(sent) == 2)
            notifier.add("alerts", "Third burst: over the hourly cap")
            await trio.sleep(0.5)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert len(sent) == 2 and notifier.pending == 1
    title, body = sent[0]
    assert title == "tradebot-tui: 5 events" and body.count("rejected") == 5
    assert "turned off" not in body
    assert sent[1] == ("tradebot-tui: Second burst", "")


def test_render_says_what_was_dropped() -> None:
    from tradebot_tui.away.notifier import Event

    title, body, severity = render([Event("errors", "A", "x", "error")], dropped=3)
    assert title == "tradebot-tui: 4 events" and "3 more" in body and severity == "error"


def test_notify_urls_come_from_the_environment_or_the_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    assert load_notify_urls(secrets, {}) == []
    env = {"TRADEBOT_NOTIFY_URLS": "tgram://123:abc/456, ntfy://topic"}
    urls = load_notify_urls(secrets, env)
    assert [u.reveal() for u in urls] == ["tgram://123:abc/456", "ntfy://topic"]
    assert "abc" not in repr(urls)
    secrets.write_text('[notify]\nurls = ["json://127.0.0.1:9/x"]\n')
    secrets.chmod(0o600)
    assert [u.reveal() for u in load_notify_urls(secrets, {})] == ["json://127.0.0.1:9/x"]
    secrets.write_text('[notify]\nurls = "json://127.0.0.1:9/x"\n')
    with pytest.raises(SecretsError, match=r"\[notify\] urls must be a list"):
        load_notify_urls(secrets, {})
    secrets.chmod(0o644)
    with pytest.raises(SecretsError, match="permissions 0644"):
        load_notify_urls(secrets, {})


def test_a_url_apprise_does_not_know_is_in_the_header_at_start_without_showing_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = Notifier(AppriseSender([Secret("nosuchservice://tokenABC")]), FAST)
    engine = engine_with(notifier)
    seen: dict[str, tuple[str, ...]] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            await wait_for(lambda: notifier.problem)
            seen["header"] = engine.snapshot().problems
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert seen["header"] == (
        "notifications failing: notify URL #1 is not an Apprise URL Apprise knows",
    )
    assert "tokenABC" not in caplog.text


def test_an_engine_crash_is_sent_with_its_cause() -> None:
    with NotifyTarget() as target:
        settings = Settings()
        notifier = Notifier(AppriseSender([Secret(target.url())]), FAST)
        engine = Engine(
            settings,
            sim_market(settings, steps=1_000_000),
            PaperBroker(settings.exchange.fee_rate),
            clock=lambda: START_MS,
            crash_after_s=0.3,
        )
        plug_away(engine, notifier=notifier)

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(engine.run)

        with pytest.raises(BaseException) as raised:
            trio.run(main)
        messages = target.received()
    assert "InjectedCrash" in repr(raised.value)
    last = messages[-1]
    text = last["title"] + "\n" + last["message"]
    assert "Engine crashed" in text and "injected engine crash after 0.3s" in text
    assert last["type"] == "failure"


def test_a_journal_that_cannot_be_read_is_sent_before_the_bot_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tradebot_tui.cli import main
    from tradebot_tui.config.locations import locate

    path = locate(None).journal("paper", "paper")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with NotifyTarget() as target:
        monkeypatch.setenv("TRADEBOT_NOTIFY_URLS", target.url())
        assert main(["--headless"]) == 2
        messages = target.received()
    assert "unreadable" in capsys.readouterr().err
    [message] = messages
    assert message["title"] == "tradebot-tui: Not started: journal problem"
    assert "moved to" in message["message"] and message["type"] == "failure"


@pytest.mark.parametrize("outcome", ["", "JSON failed"])
def test_a_send_cut_off_by_a_stop_is_waited_for_and_not_said_twice(outcome: str) -> None:
    """The stop comes while a burst is being sent: the last message waits for that send,
    comes after it, and repeats its events only if it failed."""
    import threading

    gate = threading.Event()
    sent: list[str] = []
    calls: list[str] = []

    class Slow:
        def send(self, title: str, body: str, severity: str, timeout_s: float) -> str:
            calls.append(title)
            if len(calls) == 1:  # the burst the stop cuts off
                gate.wait(5)
                if outcome:
                    return outcome
            sent.append(title + "\n" + body)
            return ""

        def prepare(self) -> None:
            pass

        def describe(self) -> str:
            return "slow"

    notifier = Notifier(Slow(), FAST)

    async def main() -> None:
        notifier.add("fills", "Bought BTC/USDT", "0.1 @ 68,000")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(notifier.flush)
            await trio.sleep(0.2)  # the send is in its thread
            nursery.cancel_scope.cancel()  # the stop
        notifier.add("engine", "Engine stopped", "shut down", "warning")
        threading.Timer(0.3, gate.set).start()  # the cut-off send ends a moment later
        assert await notifier.flush(5)

    trio.run(main)
    if outcome:  # it failed: the last message says it again
        assert sent == [
            "tradebot-tui: 2 events\n• Bought BTC/USDT: 0.1 @ 68,000\n• Engine stopped: shut down"
        ]
    else:  # it went through: the last message is only the stop, and comes last
        assert sent == [
            "tradebot-tui: Bought BTC/USDT\n0.1 @ 68,000",
            "tradebot-tui: Engine stopped\nshut down",
        ]
    assert notifier.pending == 0


def test_what_could_not_be_sent_is_kept_in_the_journal_and_sent_after_a_restart(
    tmp_path: Path,
) -> None:
    """The target is down for the whole first run (its stop message included): the
    events are kept in the journal, and the next run sends them first, then forgets them."""
    path = tmp_path / "paper-paper.db"
    with NotifyTarget() as target:
        target.fail_next = 1_000_000
        notifier = Notifier(AppriseSender([Secret(target.url())]), FAST, backoff_s=(0.2,))
        engine = engine_with(notifier, journal=Journal.open(path, profile="paper"))

        async def first() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await wait_for(lambda: notifier.failures >= 2)
                nursery.cancel_scope.cancel()

        trio.run(first)
        assert target.received() == []
    kept = json.loads(Journal.open(path, profile="paper").meta(UNSENT) or "{}")
    titles = [event[1] for event in kept["events"]]
    assert any(t.startswith("Bought") for t in titles) and titles[-1] == "Engine stopped"

    with NotifyTarget() as target:
        notifier = Notifier(AppriseSender([Secret(target.url())]), FAST)
        engine = engine_with(notifier, journal=Journal.open(path, profile="paper"))

        async def second() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await wait_for(lambda: target.received())
                await wait_for(
                    lambda: (
                        not json.loads(
                            Journal.open(path, profile="paper").meta(UNSENT) or "{}"
                        ).get("events")
                    )
                )
                nursery.cancel_scope.cancel()

        trio.run(second)
        first_message = target.received()[0]
    text = first_message["title"] + "\n" + first_message["message"]
    assert "Bought" in text and "Engine stopped" in text  # the first run's, said first


def test_unreadable_kept_notifications_are_named_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = Notifier(AppriseSender([]), FAST)
    assert notifier.restore("{not json", "state.db: meta 'unsent_notifications'") == 0
    assert "state.db: meta 'unsent_notifications': unsent notifications" in caplog.text
    assert notifier.pending == 0
