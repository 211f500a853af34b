"""Remote control from Telegram: long-polling the Bot API, answering allow-listed chats only.

Commands read the same state the screens show and act through the same engine commands
as the keys (journaled alike): `/status`, `/positions`, `/profit`, `/daily`, `/balance`,
`/pause`, `/resume`, `/exit SYMBOL`, `/exitall`, `/help`. Exits ask for a `/yes` within
`telegram.confirm_s`. Nothing remote can change keys, withdraw or transfer.

HTTP runs in worker threads (blocking urllib) so the event loop never waits on Telegram;
the answers are handled on the loop. A bad token, an unreachable API, a second poller on
the same token (409) or a rate limit (429 with `retry_after`) is logged, shown in the
header and retried with a back-off; trading goes on. The token is a Secret: it is in
every request's URL and never in a log line (the log redacts it).
"""

from __future__ import annotations

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
        except ValueError:
            raise TelegramError("the Bot API answered something that is not JSON") from None
        if not isinstance(payload, dict):
            raise TelegramError("the Bot API answered something unexpected")
        if payload.get("ok"):
            return payload.get("result")
        code = int(payload.get("error_code") or 0)
        retry = float((payload.get("parameters") or {}).get("retry_after") or 0)
        raise TelegramError(
            f"{code} {payload.get('description', 'error')}", code=code, retry_after=retry
        )


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

    def header(self) -> str:
        return "telegram" if self.connected else ""

    async def _call(self, method: str, params: dict[str, Any], timeout_s: float) -> Any:
        return await trio.to_thread.run_sync(
            self._api.call, method, params, timeout_s, abandon_on_cancel=True
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Poll until cancelled; failures are reported and retried, never raised."""
        task_status.started()
        log.info("telegram: answering %d chat(s)", len(self._access.chat_ids))
        failures = 0
        while True:
            poll = self.settings.poll_s
            try:
                updates = await self._call(
                    "getUpdates",
                    {"offset": self._offset, "timeout": poll, "allowed_updates": ["message"]},
                    poll + 10,
                )
            except TelegramError as exc:
                failures += 1
                self._failed(exc)
                wait = exc.retry_after or BACKOFF_S[min(failures - 1, len(BACKOFF_S) - 1)]
                await trio.sleep(wait)
                continue
            if failures or not self.connected:
                log.info("telegram: connected")
            failures = 0
            self.connected, self.problem = True, ""
            for update in updates or ():
                # Confirmed by asking from the next id on: never handled twice.
                self._offset = max(self._offset, int(update.get("update_id", 0)) + 1)
                await self._on_update(update)

    def _failed(self, exc: TelegramError) -> None:
        why = why_failing(exc)
        if why != self.problem:
            log.error("%s; trading goes on, retried", why)
        self.problem, self.connected = why, False

    async def _on_update(self, update: dict[str, Any]) -> None:
        message = update.get("message") or {}
        chat = (message.get("chat") or {}).get("id")
        text = str(message.get("text") or "").strip()
        if chat is None or not text:
            return
        if int(chat) not in self._access.chat_ids:
            log.warning("telegram: ignored a message from chat %s (not allowed)", chat)
            return
        log.info("telegram: %s from chat %s", text.split()[0][:32], chat)
        self.handled += 1
        reply = self.answer(int(chat), text)
        await self.send(int(chat), reply)

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
                    ExitAll(),
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
            ExitPosition(symbol),
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
            f"Realized {fmt_money(snap.net_pnl, sign=True)} after {fmt_money(snap.fees_paid)} fees",
        ]
    )
