"""Remote control from Telegram: long-polling the Bot API, answering allow-listed chats only.

Commands read the same state the screens show and act through the same engine commands
as the keys (journaled alike): `/status`, `/positions`, `/profit`, `/daily`, `/balance`,
`/pause`, `/resume`, `/exit SYMBOL`, `/exitall`, `/help`. Exits ask for a `/yes` within
`telegram.confirm_s`. Nothing remote can change keys, withdraw or transfer.

HTTP runs in worker threads (blocking urllib) so the event loop never waits on Telegram;
the answers are handled on the loop. A bad token, an unreachable API, an answer cut
short or not HTTP at all, a second poller on the same token (409) or a rate limit (429
with `retry_after`) is logged, shown in the header and retried with a back-off; trading
goes on. An update of a shape the Bot API does not document is skipped (and confirmed
to the server by the next poll, so it never comes back). The bot learns its own name
with `getMe`: a command addressed to another bot (`/pause@other_bot`) is not for it.
The token is a Secret: it is in every request's URL and never in a log line (the log
redacts it).
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import trio

from tradebot_tui.config.credentials import TelegramAccess
from tradebot_tui.config.settings import TelegramSettings
from tradebot_tui.core.display import fmt_money, fmt_qty
from tradebot_tui.engine.commands import Command, ExitAll, ExitPosition, PauseEntries, ResumeEntries
from tradebot_tui.engine.snapshot import EngineSnapshot
from tradebot_tui.journal.tallies import Tallies

log = logging.getLogger("tradebot.telegram")

BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
MAX_TEXT = 4000  # Telegram takes 4096 characters per message

HELP = """Commands:
/status – state, equity, positions, feed, problems
/positions – open positions with their PnL
/profit – closed trades since the journal began
/daily – PnL of the last 7 days (UTC)
/balance – the budget: free, reserved, invested
/pause – stop new entries (exits go on)
/resume – resume entries (re-arms a tripped kill switch)
/exit SYMBOL – sell one position at market (asks for /yes)
/exitall – sell every position at market (asks for /yes)
/help – this list"""


class MalformedUpdate(ValueError):
    """An update that is not of the shape the Bot API documents."""


def _sample(value: Any, size: int = 80) -> str:
    """A short, printable sample of something received (surrogates escaped)."""
    text = value if isinstance(value, str) else repr(value)
    return text[:size].encode("utf-8", "backslashreplace").decode("utf-8")


class TelegramError(Exception):
    """The Bot API said no, or could not be reached."""

    def __init__(self, text: str, *, code: int = 0, retry_after: float = 0.0) -> None:
        super().__init__(text)
        self.code = code
        self.retry_after = retry_after


class TelegramApi:
    """The Bot API's HTTP calls (blocking: run them in a worker thread)."""

    def __init__(self, base_url: str, token: Any) -> None:
        self._base = base_url.rstrip("/")
        self._token = token  # a Secret

    def call(self, method: str, params: dict[str, Any], timeout_s: float) -> Any:
        url = f"{self._base}/bot{self._token.reveal()}/{method}"
        body = json.dumps(params).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as answer:
                payload = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read())
            except ValueError:
                raise TelegramError(f"HTTP {exc.code}", code=exc.code) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise TelegramError(f"cannot reach the Bot API: {reason}") from None
        except http.client.HTTPException as exc:  # cut short (IncompleteRead), not HTTP
            raise TelegramError(
                f"the Bot API's answer was cut short or not HTTP ({type(exc).__name__})"
            ) from None
        except ValueError:
            raise TelegramError("the Bot API answered something that is not JSON") from None
        if not isinstance(payload, dict):
            raise TelegramError("the Bot API answered something unexpected")
        if payload.get("ok"):
            return payload.get("result")
        code = _number(payload.get("error_code"), int)
        parameters = payload.get("parameters")
        retry = _number(parameters.get("retry_after"), float) if isinstance(parameters, dict) else 0
        description = str(payload.get("description", "error"))[:200]
        raise TelegramError(f"{code} {description}", code=code, retry_after=min(retry, 3600))


def _number(value: Any, kind: type[int] | type[float]) -> Any:
    """`value` as an int or a float when it is one (a JSON number), else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return kind(0)
    number = kind(value)
    return number if number == number and abs(number) < 1e12 else kind(0)  # no NaN, no inf


@dataclass(frozen=True, slots=True)
class Desk:
    """What the remote reads and does: the same as the screens and the keys (the
    composition root makes it from the engine's snapshot, commands and figures)."""

    snapshot: Callable[[], EngineSnapshot]
    submit: Callable[[Command], None]
    tallies: Tallies
    health: Callable[[], dict[str, Any]]


def why_failing(exc: TelegramError) -> str:
    """What the owner must know about a failed call, in a few words."""
    if exc.code in (401, 404):
        return "telegram: the bot token is refused (401): check [telegram] token"
    if exc.code == 409:
        return "telegram: another program polls this bot token (409)"
    return f"telegram: {exc}"


class TelegramRemote:
    """Long-polls the Bot API and answers the allow-listed chats."""

    name = "telegram"

    def __init__(
        self,
        api: TelegramApi,
        access: TelegramAccess,
        settings: TelegramSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._access = access
        self.settings = settings
        self._clock = clock
        self.desk: Desk | None = None
        self.problem = ""
        self.connected = False
        self._offset = 0
        self._pending: dict[int, tuple[float, Command, str]] = {}  # chat -> confirmation
        self.handled = 0
        self.skipped = 0  # updates of a shape the Bot API does not document
        self.username = ""  # the bot's own (getMe), lower case

    def header(self) -> str:
        return "telegram" if self.connected else ""

    async def _call(self, method: str, params: dict[str, Any], timeout_s: float) -> Any:
        return await trio.to_thread.run_sync(
            self._api.call, method, params, timeout_s, abandon_on_cancel=True
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Learn the bot's name, then poll until cancelled; failures are reported and
        retried, never raised."""
        task_status.started()
        log.info("telegram: answering %d chat(s)", len(self._access.chat_ids))
        failures = 0
        while True:
            try:
                if not self.username:
                    self.username = await self._whoami()
                updates = await self._poll()
            except TelegramError as exc:
                failures += 1
                self._failed(exc)
                wait = exc.retry_after or BACKOFF_S[min(failures - 1, len(BACKOFF_S) - 1)]
                await trio.sleep(wait)
                continue
            if failures or not self.connected:
                log.info("telegram: connected as @%s", self.username)
            failures = 0
            self.connected, self.problem = True, ""
            for update in updates:
                await self._take(update)

    async def _whoami(self) -> str:
        """The bot's username (getMe), lower case.

        Raises:
            TelegramError: it cannot be asked, or the answer has no username.
        """
        me = await self._call("getMe", {}, 15)
        name = me.get("username") if isinstance(me, dict) else None
        if not isinstance(name, str) or not name:
            raise TelegramError("getMe answered without the bot's username")
        return name.lower()

    async def _poll(self) -> list[Any]:
        poll = self.settings.poll_s
        updates = await self._call(
            "getUpdates",
            {"offset": self._offset, "timeout": poll, "allowed_updates": ["message"]},
            poll + 10,
        )
        if not isinstance(updates, list):
            raise TelegramError("getUpdates answered something that is not a list")
        return updates

    async def _take(self, update: Any) -> None:
        """One update: its offset first (confirmed by the next poll whatever happens to
        it), then the message, skipped when its shape is not the Bot API's."""
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if isinstance(update_id, int) and not isinstance(update_id, bool):
            self._offset = max(self._offset, update_id + 1)
        try:
            await self._on_update(update)
        except MalformedUpdate as exc:
            self.skipped += 1
            if self.skipped <= 5 or self.skipped % 100 == 0:
                log.warning("telegram: skipped update #%d: %s", self.skipped, exc)

    def _failed(self, exc: TelegramError) -> None:
        why = why_failing(exc)
        if why != self.problem:
            log.error("%s; trading goes on, retried", why)
        self.problem, self.connected = why, False

    async def _on_update(self, update: Any) -> None:
        """Answer the message of one update, if it is a text from an allowed chat.

        Raises:
            MalformedUpdate: the update is not of the Bot API's shape.
        """
        if not isinstance(update, dict):
            raise MalformedUpdate(f"not an object: {_sample(update)}")
        message = update.get("message")
        if message is None:
            return  # another kind of update (allowed_updates asks for messages only)
        if not isinstance(message, dict):
            raise MalformedUpdate(f"message is not an object: {_sample(message)}")
        chat_part = message.get("chat")
        chat = chat_part.get("id") if isinstance(chat_part, dict) else None
        if not isinstance(chat, int) or isinstance(chat, bool):
            raise MalformedUpdate(f"no integer chat id: {_sample(chat_part)}")
        text = message.get("text")
        if text is None:
            return  # a photo, a sticker: nothing to answer
        if not isinstance(text, str):
            raise MalformedUpdate(f"text is not a string: {_sample(text)}")
        text = text.strip()
        if not text:
            return
        if chat not in self._access.chat_ids:
            log.warning("telegram: ignored a message from chat %d (not allowed)", chat)
            return
        if not self.for_me(text):
            return  # a command for another bot in the same group
        log.info("telegram: %s from chat %d", _sample(text.split()[0], 32), chat)
        self.handled += 1
        reply = self.answer(chat, text)
        await self.send(chat, reply)

    def for_me(self, text: str) -> bool:
        """Whether a command is this bot's: `/cmd` or `/cmd@<this bot>` (case-insensitive)."""
        word = text.split(maxsplit=1)[0]
        _, at, name = word.partition("@")
        return not at or (bool(self.username) and name.lower() == self.username)

    async def send(self, chat: int, text: str) -> None:
        """Send a reply; a failure is logged (the owner can ask again)."""
        try:
            await self._call("sendMessage", {"chat_id": chat, "text": text[:MAX_TEXT]}, 15)
        except TelegramError as exc:
            log.warning("telegram: reply to chat %s not sent: %s", chat, exc)

    # -- the commands -----------------------------------------------------------------------

    def answer(self, chat: int, text: str) -> str:
        """The reply to one command from an allowed chat (acting on the engine if asked)."""
        desk = self.desk
        if desk is None:
            return "The engine is starting; ask again in a moment."
        word, _, rest = text.partition(" ")
        command = word.split("@")[0].lower()  # /status@MyBot in groups
        snap = desk.snapshot()
        match command:
            case "/start" | "/help":
                return HELP
            case "/status":
                return status_text(snap, desk.health())
            case "/positions":
                return positions_text(snap)
            case "/profit":
                return profit_text(snap, desk.tallies)
            case "/daily":
                return daily_text(snap, desk.tallies, int(time.time() * 1000))
            case "/balance":
                return balance_text(snap)
            case "/pause":
                desk.submit(PauseEntries())
                return "Entries paused; exits go on. /resume to resume."
            case "/resume":
                desk.submit(ResumeEntries())
                return "Entries resumed."
            case "/exit":
                return self._ask(chat, snap, rest.strip().upper())
            case "/exitall":
                if not snap.positions:
                    return "No open position."
                total = sum((p.pnl for p in snap.positions), start=Decimal(0))
                return self._confirm(
                    chat,
                    ExitAll(remote=True),
                    f"Sell all {len(snap.positions)} position(s) at market "
                    f"(PnL {fmt_money(total, sign=True)} {snap.quote} at the last prices)?",
                )
            case "/yes":
                return self._confirmed(chat, desk)
            case "/no":
                dropped = self._pending.pop(chat, None)
                return "Cancelled." if dropped is not None else "Nothing to cancel."
            case _:
                return f"Unknown command {word[:32]}. /help lists them."

    def _ask(self, chat: int, snap: EngineSnapshot, symbol: str) -> str:
        if not symbol:
            return "Which coin? /exit BTC/USDT"
        if "/" not in symbol and symbol.endswith(snap.quote):
            symbol = f"{symbol[: -len(snap.quote)]}/{snap.quote}"  # BTCUSDT -> BTC/USDT
        position = next((p for p in snap.positions if p.symbol == symbol), None)
        if position is None:
            held = ", ".join(p.symbol for p in snap.positions) or "none"
            return f"No open position in {symbol}. Open: {held}."
        return self._confirm(
            chat,
            ExitPosition(symbol, remote=True),
            f"Sell {fmt_qty(position.qty)} {symbol} at market "
            f"(PnL {fmt_money(position.pnl, sign=True)} {snap.quote}, "
            f"{position.pnl_pct:+.2f}%)?",
        )

    def _confirm(self, chat: int, command: Command, question: str) -> str:
        self._pending[chat] = (self._clock() + self.settings.confirm_s, command, question)
        return f"{question}\nSend /yes within {self.settings.confirm_s} s to do it, /no to drop it."

    def _confirmed(self, chat: int, desk: Desk) -> str:
        pending = self._pending.pop(chat, None)
        if pending is None:
            return "Nothing to confirm."
        deadline, command, _question = pending
        if self._clock() > deadline:
            return "Too late: that request expired. Ask again."
        desk.submit(command)
        if isinstance(command, ExitPosition):
            return f"Selling {command.symbol} at market…"
        return "Selling every position at market…"


# -- the answers, as text ------------------------------------------------------------------------


def status_text(snap: EngineSnapshot, health: dict[str, Any]) -> str:
    lines = [
        f"{health.get('status', 'ok').upper()} · {snap.mode} · {snap.state.value}",
        f"Equity {fmt_money(snap.equity)} {snap.quote} "
        f"(today {fmt_money(snap.pnl_today, sign=True)})",
        f"Positions {snap.open_positions}/{snap.max_positions} · trades {snap.trades}",
        f"Feed {snap.feed or snap.source}",
    ]
    lines.extend(f"⚠ {reason}" for reason in health.get("reasons", []))
    return "\n".join(lines)


def positions_text(snap: EngineSnapshot) -> str:
    if not snap.positions:
        return "No open position."
    lines = []
    for p in snap.positions:
        lines.append(
            f"{p.symbol}: {fmt_qty(p.qty)} @ {p.entry_price.normalize():f}, last {p.last:g}, "
            f"PnL {fmt_money(p.pnl, sign=True)} ({p.pnl_pct:+.2f}%)"
        )
    return "\n".join(lines)


def profit_text(snap: EngineSnapshot, tallies: Tallies) -> str:
    t = tallies.total
    if not t.trades:
        return "No closed trade yet."
    rate = f"{t.wins / t.trades:.0%}"
    best = max(tallies.coins.items(), key=lambda kv: kv[1].pnl)
    worst = min(tallies.coins.items(), key=lambda kv: kv[1].pnl)
    return "\n".join(
        [
            f"{t.trades} closed trades, {rate} won",
            f"PnL {fmt_money(t.pnl, sign=True)} {snap.quote} after {fmt_money(t.fees)} fees",
            f"Best {best[0]} {fmt_money(best[1].pnl, sign=True)} · "
            f"worst {worst[0]} {fmt_money(worst[1].pnl, sign=True)}",
            f"Open now: {snap.open_positions}, equity {fmt_money(snap.equity)} {snap.quote}",
        ]
    )


def daily_text(snap: EngineSnapshot, tallies: Tallies, now_ms: int, days: int = 7) -> str:
    lines = [f"PnL per day (UTC), {snap.quote}:"]
    for n in range(days - 1, -1, -1):
        day = datetime.fromtimestamp(now_ms / 1000 - n * 86400, UTC).strftime("%Y-%m-%d")
        t = tallies.day(day)
        lines.append(f"{day}: {fmt_money(t.pnl, sign=True)} ({t.trades} trades)")
    return "\n".join(lines)


def balance_text(snap: EngineSnapshot) -> str:
    return "\n".join(
        [
            f"Equity {fmt_money(snap.equity)} {snap.quote} (started {fmt_money(snap.initial)})",
            f"Free {fmt_money(snap.free)} · reserved {fmt_money(snap.reserved)} · "
            f"in positions {fmt_money(snap.in_positions)}",
            realized_text(snap),
        ]
    )


def realized_text(snap: EngineSnapshot) -> str:
    """The closed trades' result as the history shows it, and what open positions cost."""
    closed, fees, on_open = snap.realized_parts()
    text = f"Closed trades {fmt_money(closed, sign=True)} after {fmt_money(fees)} fees"
    return text + (f"; on open positions so far {fmt_money(on_open, sign=True)}" if on_open else "")
