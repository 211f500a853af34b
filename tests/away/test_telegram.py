"""Telegram remote control against a fake Bot API on 127.0.0.1, with a trading engine."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.test_paper_journal import engine as paper_engine
from tests.fake_telegram import FakeTelegram
from tests.helpers import expected_live_ticks
from tradebot_tui.away.telegram import Desk, TelegramApi, TelegramError, TelegramRemote
from tradebot_tui.config.credentials import (
    Secret,
    SecretsError,
    TelegramAccess,
    load_telegram,
)
from tradebot_tui.config.settings import Settings, TelegramSettings
from tradebot_tui.core.display import fmt_money
from tradebot_tui.engine.engine import Engine
from tradebot_tui.journal.store import Journal
from tradebot_tui.journal.tallies import Tallies
from tradebot_tui.wiring.away import plug_away

TOKEN = "123456:AAH-secret-token-xyz"
OWNER = 4242
STRANGER = 666
FAST = TelegramSettings(poll_s=1, confirm_s=60)


def remote_for(engine: Engine, url: str, token: str = TOKEN, **kw: Any) -> TelegramRemote:
    remote = unplugged_remote(url, token, **kw)
    plug_away(engine, remote=remote)
    return remote


def unplugged_remote(url: str, token: str = TOKEN, **kw: Any) -> TelegramRemote:
    access = TelegramAccess(Secret(TOKEN), frozenset({OWNER}), "test")
    return TelegramRemote(TelegramApi(url, Secret(token)), access, kw.pop("settings", FAST), **kw)


@contextlib.asynccontextmanager
async def running_beside(remote: TelegramRemote, other: TelegramRemote) -> AsyncIterator[None]:
    """`other` polls too, as another program on the same machine would, answering as
    `remote`'s engine: one engine has one monitor and one remote control."""
    other.desk = remote.desk
    async with trio.open_nursery() as nursery:
        await nursery.start(other.run)
        yield
        nursery.cancel_scope.cancel()


def run(engine: Engine, script: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(engine.run)
                await script()
                nursery.cancel_scope.cancel()

    trio.run(main)


async def until(condition: Callable[[], object], seconds: float = 15) -> None:
    with trio.fail_after(seconds):
        while not condition():
            await trio.sleep(0.02)


async def ask(fake: FakeTelegram, text: str, chat: int = OWNER) -> str:
    before = len(fake.replies(chat))
    fake.say(chat, text)
    await until(lambda: len(fake.replies(chat)) > before)
    return fake.replies(chat)[-1]


def test_commands_from_the_owner_read_and_steer_the_engine(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tradebot")
    journal_path = tmp_path / "paper-paper.db"
    # A market that ends after fifteen minutes with trades made and positions open: then
    # prices stand still and only the commands change anything.
    engine = paper_engine(Settings(), Journal.open(journal_path, profile="paper"), 900)
    answers: dict[str, str] = {}
    total = expected_live_ticks(Settings(), steps=900)
    with FakeTelegram(TOKEN) as fake:
        remote = remote_for(engine, fake.url)

        async def script() -> None:
            await until(lambda: engine.ticks == total and not engine.following)
            assert engine.trades >= 2 and engine.snapshot().positions
            for command in ("/help", "/status", "/positions", "/profit", "/daily", "/balance"):
                answers[command] = await ask(fake, command)
            # /balance's realized figure is the history's; open positions' fees apart.
            closed, fees, on_open = engine.snapshot().realized_parts()
            answers["realized"] = (
                f"Closed trades {fmt_money(closed, sign=True)} after {fmt_money(fees)} fees; "
                f"on open positions so far {fmt_money(on_open, sign=True)}"
            )
            answers["/pause"] = await ask(fake, "/pause")
            await until(lambda: engine.trader.gate.paused)
            answers["header"] = engine.snapshot().away
            symbol = engine.snapshot().positions[0].symbol
            answers["/exit"] = await ask(fake, f"/exit {symbol.replace('/', '')}")
            assert engine.trader.books[symbol].position is not None  # not before /yes
            answers["/yes"] = await ask(fake, "/yes")
            await until(lambda: engine.trader.books[symbol].position is None)
            sold = [n for n in engine.snapshot().notices if n.title.startswith(f"Sold {symbol}")]
            answers["sold is news"] = str(bool(sold) and not sold[-1].answer)
            answers["/yes again"] = await ask(fake, "/yes")
            answers["/resume"] = await ask(fake, "/resume")
            await until(lambda: not engine.trader.gate.paused)
            answers["/nonsense"] = await ask(fake, "/nonsense")
            fake.say(STRANGER, "/exitall")  # not allowed: ignored
            answers["last"] = await ask(fake, "/status")

        run(engine, script)
    assert "/exitall – sell every position" in answers["/help"]
    assert answers["/status"].startswith("OK · PAPER · running\nEquity ")
    assert " @ " in answers["/positions"] and "PnL" in answers["/positions"]
    assert "closed trades" in answers["/profit"] and "PnL per day (UTC)" in answers["/daily"]
    assert answers["/balance"].startswith("Equity ") and "Free " in answers["/balance"]
    assert answers["/balance"].endswith(answers["realized"])
    assert answers["/pause"].startswith("Entries paused") and "telegram" in answers["header"]
    assert answers["/exit"].startswith("Sell ") and "Send /yes within 60 s" in answers["/exit"]
    assert answers["/yes"].startswith("Selling ") and answers["/yes again"] == "Nothing to confirm."
    assert answers["sold is news"] == "True"  # its result reaches the phone as news
    assert answers["/nonsense"] == "Unknown command /nonsense. /help lists them."
    assert fake.replies(STRANGER) == [] and remote.handled == 13
    assert f"ignored a message from chat {STRANGER}" in caplog.text
    assert TOKEN not in caplog.text and "AAH-secret" not in caplog.text
    # Through the same commands as the keys, journaled alike.
    events = Journal.open(journal_path, profile="paper").db.execute(
        "SELECT detail FROM events WHERE kind = 'control'"
    )
    assert [d for (d,) in events] == ["PauseEntries", "ExitPosition", "ResumeEntries"]


def test_a_confirmation_expires_and_only_its_chat_can_give_it() -> None:
    now = [0.0]
    access = TelegramAccess(Secret(TOKEN), frozenset({OWNER, 77}), "test")
    api = TelegramApi("http://127.0.0.1:9", Secret(TOKEN))
    remote = TelegramRemote(api, access, FAST, clock=lambda: now[0])
    position = SimpleNamespace(symbol="BTC/USDT", qty=Decimal(1), pnl=Decimal(0), pnl_pct=0.0)
    snap = SimpleNamespace(quote="USDT", positions=[position])
    submitted: list[object] = []
    remote.desk = Desk(
        snapshot=lambda: snap,  # type: ignore[arg-type,return-value]
        submit=submitted.append,
        tallies=Tallies(),
        health=dict,
    )
    assert "Send /yes within 60 s" in remote.answer(OWNER, "/exit BTC/USDT")
    assert remote.answer(77, "/yes") == "Nothing to confirm."  # another chat cannot
    now[0] = 61
    assert remote.answer(OWNER, "/yes") == "Too late: that request expired. Ask again."
    assert remote.answer(OWNER, "/exit ETH/USDT").startswith("No open position in ETH/USDT")
    assert submitted == []


def test_a_bad_token_is_in_the_log_and_the_header_and_trading_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = paper_engine(Settings(), Journal.open(tmp_path / "p.db", profile="paper"), 1_000_000)
    seen: dict[str, Any] = {}
    with FakeTelegram(TOKEN) as fake:
        remote = remote_for(engine, fake.url, token="999:wrong-token-abc")

        async def script() -> None:
            await until(lambda: remote.problem)
            seen["problems"] = engine.snapshot().problems
            ticks = engine.ticks
            await until(lambda: engine.ticks > ticks + 500)

        run(engine, script)
    assert "telegram: the bot token is refused (401): check [telegram] token" in seen["problems"]
    assert "wrong-token-abc" not in caplog.text


def test_an_unreachable_api_and_flood_control_are_retried(tmp_path: Path) -> None:
    engine = paper_engine(Settings(), Journal.open(tmp_path / "p.db", profile="paper"), 1_000_000)
    seen: dict[str, Any] = {}
    with FakeTelegram(TOKEN) as fake:
        fake.bad_gateway_next = 1
        fake.flood_next = 1
        remote = remote_for(engine, fake.url)
        unreachable = unplugged_remote("http://127.0.0.1:9")  # nothing listens there

        async def script() -> None:
            async with running_beside(remote, unreachable):
                await until(lambda: unreachable.problem and remote.connected, 20)
                seen["unreachable"] = unreachable.problem
                seen["reply"] = await ask(fake, "/help")

        run(engine, script)
    assert seen["unreachable"].startswith("telegram: cannot reach the Bot API")
    # The 502 (an HTML page), the 429, then the bot learns its name and polls.
    assert fake.calls[:4] == ["getMe", "getMe", "getMe", "getUpdates"]
    assert seen["reply"].startswith("Commands:")


def test_a_second_poller_on_the_token_is_reported(tmp_path: Path) -> None:
    engine = paper_engine(Settings(), Journal.open(tmp_path / "p.db", profile="paper"), 1_000_000)
    seen: dict[str, Any] = {}
    slow = dataclasses.replace(FAST, poll_s=5)
    with FakeTelegram(TOKEN) as fake:
        first = remote_for(engine, fake.url, settings=slow)
        second = unplugged_remote(fake.url, settings=slow)

        async def script() -> None:
            async with running_beside(first, second):
                await until(lambda: "409" in first.problem or "409" in second.problem, 20)
                seen["problem"] = first.problem or second.problem

        run(engine, script)
    assert seen["problem"] == "telegram: another program polls this bot token (409)"


def test_telegram_access_from_the_environment_or_the_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    assert load_telegram(secrets, {}) is None
    env = {"TRADEBOT_TELEGRAM_TOKEN": TOKEN, "TRADEBOT_TELEGRAM_CHATS": "4242, 77"}
    access = load_telegram(secrets, env)
    assert access is not None and access.chat_ids == {4242, 77} and TOKEN not in repr(access)
    with pytest.raises(SecretsError, match="set both"):
        load_telegram(secrets, {"TRADEBOT_TELEGRAM_TOKEN": TOKEN})
    secrets.write_text(f'[telegram]\ntoken = "{TOKEN}"\nchat_ids = [4242]\n')
    secrets.chmod(0o600)
    access = load_telegram(secrets, {})
    assert access is not None and access.token.reveal() == TOKEN
    secrets.write_text(f'[telegram]\ntoken = "{TOKEN}"\nchat_ids = ["me"]\n')
    with pytest.raises(SecretsError, match="chat id 'me' is not a number"):
        load_telegram(secrets, {})


def test_an_answer_cut_short_or_not_http_is_retried_and_trading_goes_on(tmp_path: Path) -> None:
    engine = paper_engine(Settings(), Journal.open(tmp_path / "p.db", profile="paper"), 1_000_000)
    seen: dict[str, Any] = {}
    with FakeTelegram(TOKEN) as fake:
        remote = remote_for(engine, fake.url)

        async def script() -> None:
            await until(lambda: remote.connected)
            fake.cut_next = 1
            await until(lambda: "cut short or not HTTP" in remote.problem)
            seen["cut"] = remote.problem
            fake.garbage_next = 1
            await until(lambda: remote.problem != seen["cut"] or remote.connected)
            ticks = engine.ticks
            await until(lambda: engine.ticks > ticks + 100)  # trading went on meanwhile
            seen["reply"] = await ask(fake, "/help")

        run(engine, script)
    assert (
        seen["cut"] == "telegram: the Bot API's answer was cut short or not HTTP (IncompleteRead)"
    )
    assert seen["reply"].startswith("Commands:")


MALFORMED: list[Any] = [
    "not an object",
    {"message": "hello"},
    {"message": {"chat": {"id": "abc"}, "text": "/pause"}},
    {"message": {"chat": "me", "text": "/pause"}},
    {"message": {"chat": {"id": OWNER}, "text": ["/pause"]}},
    {"message": {"chat": {"id": True}, "text": "/pause"}},
]


def test_updates_of_any_other_shape_are_skipped_once_and_confirmed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tradebot")
    engine = paper_engine(Settings(), Journal.open(tmp_path / "p.db", profile="paper"), 1_000_000)
    seen: dict[str, Any] = {}
    with FakeTelegram(TOKEN) as fake:
        remote = remote_for(engine, fake.url)

        async def script() -> None:
            await until(lambda: remote.connected)
            for update in MALFORMED:
                fake.push(update)
            seen["reply"] = await ask(fake, "/help")  # after them: they did not stop it
            await until(lambda: len(fake.updates) <= 1)  # confirmed, gone from the server

        run(engine, script)
    assert seen["reply"].startswith("Commands:") and not engine.trader.gate.paused
    # Each was skipped; those with an update_id are confirmed and gone. The one without
    # (the Bot API never sends such) cannot be: it is skipped at each poll, logged rarely.
    assert remote.skipped >= len(MALFORMED)
    assert fake.updates == ["not an object"]
    assert "skipped update #1: not an object: not an object" in caplog.text
    assert "skipped update #3: no integer chat id: {'id': 'abc'}" in caplog.text


def test_a_command_for_another_bot_is_not_for_this_one(tmp_path: Path) -> None:
    engine = paper_engine(Settings(), Journal.open(tmp_path / "p.db", profile="paper"), 1_000_000)
    seen: dict[str, Any] = {}
    with FakeTelegram(TOKEN) as fake:
        remote = remote_for(engine, fake.url)

        async def script() -> None:
            await until(lambda: remote.connected)
            fake.say(OWNER, "/pause@some_other_bot")
            seen["ours"] = await ask(fake, "/status@tradebot_test_BOT")  # any case
            seen["paused"] = engine.trader.gate.paused

        run(engine, script)
    assert remote.username == "tradebot_test_bot"
    assert seen["ours"].startswith("OK · PAPER") and seen["paused"] is False
    assert len(fake.replies(OWNER)) == 1


def test_a_lone_surrogate_in_a_message_is_answered_and_logged(tmp_path: Path) -> None:
    from tradebot_tui.engine.logs import LoggingSetup, log_file_problem

    engine = paper_engine(Settings(), Journal.open(tmp_path / "p.db", profile="paper"), 1_000_000)
    setup = LoggingSetup()
    setup.start(tmp_path / "logs")
    seen: dict[str, Any] = {}
    try:
        with FakeTelegram(TOKEN) as fake:
            remote = remote_for(engine, fake.url)

            async def script() -> None:
                await until(lambda: remote.connected)
                seen["reply"] = await ask(fake, "/x\ud800y")
                seen["problem"] = log_file_problem()

            run(engine, script)
    finally:
        setup.stop()
    assert seen["reply"].startswith("Unknown command") and seen["problem"] == ""
    assert (
        "telegram: /x\\\\ud800y from chat 4242"
        in (tmp_path / "logs" / "tradebot.jsonl").read_text()
    )


# -- any shape, generated ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
near_updates = st.fixed_dictionaries(
    {
        "update_id": st.one_of(st.integers(-5, 10**12), json_values),
        "message": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "chat": st.one_of(
                        json_values,
                        st.fixed_dictionaries({"id": st.one_of(st.just(OWNER), json_values)}),
                    ),
                    "text": st.one_of(st.sampled_from(["/help", "/pause@x", "/exit"]), json_values),
                }
            ),
        ),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(near_updates, json_values), max_size=4))
def test_updates_of_any_shape_never_stop_the_remote(updates: list[Any]) -> None:
    access = TelegramAccess(Secret(TOKEN), frozenset({OWNER}), "test")
    remote = TelegramRemote(TelegramApi("http://127.0.0.1:9", Secret(TOKEN)), access, FAST)
    remote.username = "tradebot_test_bot"
    sent: list[object] = []

    async def call(method: str, params: dict[str, Any], timeout_s: float) -> Any:
        sent.append((method, params))
        return {}

    remote._call = call  # type: ignore[method-assign]

    async def main() -> None:
        for update in updates:
            before = remote._offset
            await remote._take(update)
            assert remote._offset >= before

    trio.run(main)
    assert all(method == "sendMessage" for method, _ in sent)  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=64)))
def test_a_bot_api_answer_of_any_shape_is_a_value_or_a_telegram_error(body: bytes) -> None:
    class Answer:
        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def read(self) -> bytes:
            return body

    api = TelegramApi("http://127.0.0.1:9", Secret(TOKEN))
    with mock.patch("urllib.request.urlopen", lambda *a, **k: Answer()):
        try:
            api.call("getUpdates", {}, 1)
        except TelegramError as exc:
            assert TOKEN not in str(exc)
