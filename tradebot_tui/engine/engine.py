"""The engine: market data, strategy, orders and snapshots as trio services in one nursery.

The same engine runs as a trio guest inside the Textual app and under plain `trio.run`
for `--headless`. All domain state lives in one thread, so nothing here takes a lock.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any, cast

import trio

from tradebot_tui.config import validate
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.display import fmt_price, fmt_qty, price_decimals
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.ledger import Ledger, LedgerError
from tradebot_tui.core.market import MarketRules, replay_rules
from tradebot_tui.core.money import EXACT, ZERO, dec, fmt_decimal
from tradebot_tui.core.orders import (
    BrokerEvent,
    Fill,
    OrderClosed,
    OrderIntent,
    OrderStatus,
    Purpose,
    Side,
    client_id_prefix,
)
from tradebot_tui.core.ticks import Tick
from tradebot_tui.core.trader import Trade, Trader
from tradebot_tui.engine.commands import (
    LIVE_SECTIONS,
    ApplySettings,
    CancelOrder,
    Command,
    ExitAll,
    ExitPosition,
    Focus,
    PauseEntries,
    ReplayControl,
    ResumeEntries,
    TogglePause,
    ToggleSymbol,
)
from tradebot_tui.engine.history import MINUTE_MS, EquityHistory, PriceHistory
from tradebot_tui.engine.journal import Journal, JournaledOrder, JournalError
from tradebot_tui.engine.logs import LogRing
from tradebot_tui.engine.snapshot import (
    EngineSnapshot,
    FocusChart,
    Notice,
    OrderRow,
    PositionRow,
    RunState,
    WatchRow,
)
from tradebot_tui.exchange.base import Broker, ExchangeBroker, MarketDataSource, TickBatch
from tradebot_tui.exchange.resilience import BreakerState

log = logging.getLogger("tradebot.engine")

ORDER_HISTORY = 200
TRADE_HISTORY = 200
NOTICES = 30
DAY_MS = 86_400_000
TICK_CHANNEL_SIZE = 256
COMMAND_CHANNEL_SIZE = 64
# Ticks waiting for the recorder (a second of a busy feed); beyond this they are dropped.
RECORD_BUFFER = 200_000


class InjectedCrash(RuntimeError):
    """Raised on purpose by `--inject-engine-crash` to test crash handling."""


@dataclass(slots=True)
class _OrderRecord:
    intent: OrderIntent
    status: OrderStatus = OrderStatus.PENDING
    filled: Decimal = ZERO
    value: Decimal = ZERO
    fee: Decimal = ZERO
    message: str = ""


class Engine:
    """One trading engine: run it with `await engine.run()` inside a trio run."""

    def __init__(
        self,
        settings: Settings,
        source: MarketDataSource,
        broker: Broker,
        *,
        mode: str = "PAPER",
        publish: Callable[[EngineSnapshot], None] | None = None,
        log_ring: LogRing | None = None,
        crash_after_s: float | None = None,
        clock: Callable[[], int] | None = None,
        recordings: Path | None = None,
        journal: Journal | None = None,
    ) -> None:
        """Create the engine.

        Args:
            settings: Validated settings.
            source: Where ticks come from.
            broker: Where orders go.
            mode: "PAPER" or "LIVE", for display.
            publish: Called with each snapshot (at most `ui.refresh_hz` times a second).
            log_ring: The in-memory log for the logs screen; stamped with engine time.
            crash_after_s: Raise InjectedCrash after this many seconds (tests).
            clock: Milliseconds since the epoch before the first tick arrives; wall clock
                by default (tests pass a fixed one).
            recordings: Record every live tick to rotating files in this folder.
            journal: Write-ahead journal of orders (live): recovered from at start.
        """
        self.settings = settings
        self.mode = mode
        self._source = source
        self._broker = broker
        # The same broker when it has an exchange account behind it (live): recovery,
        # reconciliation, balances and the shutdown cancels need one.
        self._exchange = cast("ExchangeBroker", broker) if hasattr(broker, "lookup") else None
        self._publish = publish
        self._log_ring = log_ring
        self._crash_after_s = crash_after_s
        self._markets: dict[str, MarketRules] = source.markets()
        self._symbols = list(self._markets)
        # The exchange connection whose circuit breaker can pause entries (None: simulator).
        self._client = getattr(source, "client", None) or getattr(broker, "client", None)
        self._nursery: trio.Nursery | None = None
        self._recordings = recordings
        self._journal = journal
        self._ready = trio.Event()  # set once recovery is done: ticks wait for it
        self.closing = False
        self._follow_scopes: dict[str, trio.CancelScope] = {}
        self._suspect: dict[str, int] = {}  # reconciliation: symbol -> checks in a row
        self._to_record: list[Tick] = []
        self.recorded = 0
        self.trader = Trader(
            settings.strategy_params(),
            Ledger(settings.budget.quote, settings.budget.initial),
            self._rules,
            profile=settings.exchange.profile,
        )
        self._cmd_send, self._cmd_recv = trio.open_memory_channel[Command](COMMAND_CHANNEL_SIZE)
        self._orders: dict[str, _OrderRecord] = {}
        self._order_ids: deque[str] = deque()
        self.state = RunState.STARTING
        self.now_ms = 0
        self.ticks = 0
        self.trades = 0
        self.wins = 0
        self._seq = 0
        self._changed = trio.Event()
        self._clock = clock or (lambda: int(time.time() * 1000))
        # Histories for the sparklines and charts: kept only when someone looks at them.
        self._history = PriceHistory() if publish is not None else None
        self._equity = EquityHistory()
        self._trades: deque[Trade] = deque(maxlen=TRADE_HISTORY)
        self._notices: deque[Notice] = deque(maxlen=NOTICES)
        self._notice_seq = 0
        self._focus: str | None = None
        self._equity_minute = -1
        self._decimals: dict[str, int] = {}
        self._day = -1
        self._day_open_equity = settings.budget.initial
        if log_ring is not None:
            log_ring.clock = self.time_ms

    def time_ms(self) -> int:
        """Engine time: the clock, or the last tick's timestamp when that is later."""
        clock = self._clock()
        return self.now_ms if self.now_ms > clock else clock

    @property
    def following(self) -> int:
        """Orders being followed on the broker right now."""
        return len(self._follow_scopes)

    def _rules(self, symbol: str) -> MarketRules:
        return self._markets.get(symbol) or replay_rules(symbol)

    def notice(
        self, title: str, message: str, severity: str = "information", *, answer: bool = False
    ) -> None:
        """Tell the trader something now (shown as a notification by the app).

        `answer` marks the result of a command of the trader's: always shown.
        """
        self._notice_seq += 1
        self._notices.append(
            Notice(self._notice_seq, self.time_ms(), title, message, severity, answer)
        )
        self._changed.set()

    def _refresh_markets(self) -> None:
        """Follow the source's universe (a source replaces its dict when it changes)."""
        markets = self._source.markets()
        if markets is not self._markets:
            self._markets = markets
            self._symbols = list(markets)
            self._decimals.clear()

    # -- control ---------------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Queue a control command (call from inside the trio run).

        Raises:
            trio.WouldBlock: the command queue is full (the engine is stuck).
        """
        self._cmd_send.send_nowait(command)

    async def _control(self) -> None:
        async for command in self._cmd_recv:
            await self._handle(command)
            if self._journal is not None:
                try:
                    self._journal.record_event("control", type(command).__name__)
                except JournalError as exc:
                    log.error("journal: %s", exc)
            self._changed.set()

    async def _handle(self, command: Command) -> None:
        trader = self.trader
        if isinstance(command, TogglePause):
            command = ResumeEntries() if trader.paused else PauseEntries()
        if isinstance(command, PauseEntries):
            if not trader.paused:
                trader.paused = True
                self.state = RunState.PAUSED
                log.info("entries paused by the user; exits continue")
        elif isinstance(command, ResumeEntries):
            if trader.paused:
                trader.paused = False
                trader.reset_drawdown()
                self.state = RunState.RUNNING
                log.info("entries resumed (the drawdown protection starts from here)")
        elif isinstance(command, ExitPosition):
            await self._manual_exit(command.symbol)
        elif isinstance(command, ExitAll):
            held = [b.symbol for b in trader.books.values() if b.position is not None]
            log.info("exit all: %d position(s)", len(held))
            if not held:
                self.notice("Exit all", "No open position to exit.", "warning", answer=True)
            for symbol in held:
                await self._manual_exit(symbol)
        elif isinstance(command, ToggleSymbol):
            self._toggle_symbol(command.symbol)
        elif isinstance(command, CancelOrder):
            await self._cancel(command.client_id)
        elif isinstance(command, ApplySettings):
            self._apply_settings(command.settings)
        elif isinstance(command, Focus):
            self._focus = command.symbol
        elif isinstance(command, ReplayControl):
            control = getattr(self._source, "control", None)
            if control is None:
                self.notice("Replay", "Not a replay: nothing to control.", "warning", answer=True)
            else:
                control(command.action)

    async def _manual_exit(self, symbol: str) -> None:
        intent = self.trader.exit_position(symbol, self.time_ms())
        if intent is None:
            log.warning("exit %s: no open position to exit", symbol)
            self.notice(
                f"Exit {symbol}",
                "No open position to exit (sold already?).",
                "warning",
                answer=True,
            )
            return
        await self._execute(intent)

    def _toggle_symbol(self, symbol: str) -> None:
        paused = self.trader.paused_symbols
        if symbol in paused:
            paused.discard(symbol)
            log.info("%s: entries resumed by the user", symbol)
            self.notice(symbol, "Entries resumed for this coin.", answer=True)
        else:
            paused.add(symbol)
            log.info("%s: entries paused by the user; its exits continue", symbol)
            self.notice(symbol, "Entries paused for this coin; its exits continue.", answer=True)

    async def _cancel(self, client_id: str) -> None:
        record = self._orders.get(client_id)
        if record is None or record.status.terminal:
            why = "unknown order" if record is None else f"already {record.status.value}"
            self.notice(
                "Cancel",
                f"{client_id}: not open ({why}); nothing to cancel.",
                "warning",
                answer=True,
            )
            return
        exchange = self._exchange
        if exchange is None or client_id not in self._follow_scopes:
            self.notice(
                "Cancel", f"{client_id}: this broker fills at once; nothing to cancel.", answer=True
            )
            return
        log.info("cancelling %s at the user's request", client_id)
        intent = record.intent
        if intent.purpose is Purpose.ENTRY:
            # Else the next tick below the trigger would buy the coin again at once.
            self.trader.paused_symbols.add(intent.symbol)
        try:
            await exchange.cancel(record.intent)
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.error("cancel %s failed: %s", client_id, exc)
            self.notice("Cancel failed", f"{client_id}: {exc}", "error", answer=True)
            return
        paused = (
            f" Entries on {intent.symbol} are paused (z on the watchlist resumes them)."
            if intent.purpose is Purpose.ENTRY
            else ""
        )
        self.notice(
            "Cancel sent", f"{client_id} ({intent.symbol}): cancel requested.{paused}", answer=True
        )

    def _apply_settings(self, new: Settings) -> None:
        """Strategy, risk and exit settings from now on; open positions keep their exits."""
        old = self.settings
        merged = replace(old, **{name: getattr(new, name) for name in LIVE_SECTIONS})
        changed = [key for key, _, _ in validate.diff(old, merged)]
        self.settings = merged
        self.trader.set_params(merged.strategy_params())
        later = [s for s in validate.changed_sections(old, new) if s not in LIVE_SECTIONS]
        text = ", ".join(changed) if changed else "nothing changed"
        log.info("settings applied: %s", text, extra={"fields": {"changed": len(changed)}})
        message = f"Now in effect: {text}."
        if later:
            message += f" Next start: {', '.join(later)}."
        self.notice("Settings applied", message, answer=True)

    # -- services --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every service until cancelled (or until one of them fails)."""
        send, recv = trio.open_memory_channel[TickBatch](TICK_CHANNEL_SIZE)
        params = self.trader.params
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._consume, recv)
                nursery.start_soon(self._control)
                nursery.start_soon(self._publisher)
                if self._recordings is not None:
                    nursery.start_soon(self._recorder, self._recordings)
                if self._crash_after_s is not None:
                    nursery.start_soon(self._crash_later, self._crash_after_s)
                nursery.start_soon(self._shutdown_watch)
                await nursery.start(self._source.run, send)
                self._refresh_markets()
                if self._journal is not None:
                    await self._recover()
                    nursery.start_soon(self._reconcile_loop)
                self._ready.set()
                log.info(
                    "engine started: %s trading on %s data, %d symbols, budget %s %s, stake %s, "
                    "trigger %.2f%% below the %s anchor",
                    self.mode.lower(),
                    self._source.name,
                    len(self._symbols),
                    fmt_decimal(self.settings.budget.initial),
                    self.settings.budget.quote,
                    fmt_decimal(params.stake),
                    params.trigger_pct,
                    params.anchor.value,
                )
                if self._exchange is not None:
                    await self._check_balance(self._exchange)
                self.state = RunState.RUNNING
                self._changed.set()  # the first snapshot, ticks or not (a paused replay)
                task_status.started()
        except BaseException as exc:
            if not _is_cancellation(exc):
                log.critical("engine failed: %s", describe_error(exc), exc_info=exc)
            raise
        finally:
            self.state = RunState.STOPPING
            log.info("engine stopped")

    async def _check_balance(self, exchange: ExchangeBroker) -> None:
        """Live: say what the exchange account holds against the budget (never a guess)."""
        quote = self.settings.budget.quote
        try:
            balances = await exchange.balances()
        except trio.Cancelled:
            raise
        except Exception as exc:
            log.error("could not read the exchange balances: %s", exc)
            return
        free = balances.get(quote, (ZERO, ZERO))[0]
        budget = self.settings.budget.initial
        log.info(
            "exchange balance: %s %s free; trading budget %s",
            fmt_decimal(free),
            quote,
            fmt_decimal(budget),
        )
        if free < budget:
            log.warning(
                "the free %s balance (%s) is below budget.initial (%s): entries will fail "
                "with insufficient funds once it is spent",
                quote,
                fmt_decimal(free),
                fmt_decimal(budget),
            )

    async def _crash_later(self, seconds: float) -> None:
        await trio.sleep(seconds)
        raise InjectedCrash(f"injected engine crash after {seconds:g}s (--inject-engine-crash)")

    async def _consume(self, recv: trio.MemoryReceiveChannel[TickBatch]) -> None:
        trader = self.trader
        await self._ready.wait()
        async for batch in recv:
            ticks = batch.ticks
            if not ticks:  # a source with news but no ticks (a replay that ended)
                self._changed.set()
                continue
            if batch.warmup:
                for ts, symbol, price in ticks:
                    trader.warm(ts, symbol, price)
            else:
                day = ticks[0][0] // DAY_MS
                if day != self._day:
                    # A new UTC day of engine time: today's PnL counts from its first tick
                    # (from the start of the run on the first day).
                    if self._day >= 0:
                        self._day_open_equity = trader.equity()
                    self._day = day
                trader.now_ms = self.time_ms()
                if self._client is not None:
                    trader.circuit_open = self._client.breaker.state is BreakerState.OPEN
                on_tick = trader.on_tick
                for ts, symbol, price in ticks:
                    intent = on_tick(ts, symbol, price)
                    if intent is not None:
                        self.now_ms = ts
                        await self._execute(intent)
                self.ticks += len(ticks)
                if self._recordings is not None and len(self._to_record) < RECORD_BUFFER:
                    self._to_record.extend(ticks)
            self.now_ms = ticks[-1][0]
            history = self._history
            if history is not None:  # a UI is watching: sparklines and charts
                add = history.add
                for ts, symbol, price in ticks:
                    add(ts, symbol, price)
                if self.now_ms // MINUTE_MS != self._equity_minute:
                    # Equity once a minute of engine time, however fast the ticks come.
                    self._equity_minute = self.now_ms // MINUTE_MS
                    self._equity.add(self.now_ms, float(trader.equity()))
            self._changed.set()

    async def _recorder(self, folder: Path) -> None:
        """Write the live ticks to rotating gzip files, off the event loop, once a second."""
        from tradebot_tui.exchange.recording import RotatingRecorder

        recorder = RotatingRecorder(folder)
        log.info("recording ticks to %s", folder)
        try:
            while True:
                await trio.sleep(1.0)
                batch, self._to_record = self._to_record, []
                if batch:
                    await trio.to_thread.run_sync(recorder.write, batch)
                    self.recorded += len(batch)
        finally:
            with trio.CancelScope(shield=True):
                batch, self._to_record = self._to_record, []
                await trio.to_thread.run_sync(recorder.write, batch)
                await trio.to_thread.run_sync(recorder.close)
                self.recorded += len(batch)

    async def _publisher(self) -> None:
        period = 1 / self.settings.ui.refresh_hz
        while True:
            await self._changed.wait()
            self._changed = trio.Event()
            if self._publish is not None:
                self._publish(self.snapshot())
            await trio.sleep(period)

    # -- orders ----------------------------------------------------------------------------

    async def _execute(self, intent: OrderIntent) -> None:
        self._remember(intent)
        self._log_intent(intent)
        broker = self._broker
        if broker.immediate:
            try:
                events = broker.execute(intent)
            except Exception as exc:  # the broker failed: the order did not happen
                log.error("%s %s failed: %s", intent.side.value, intent.symbol, exc)
                events = [OrderClosed(intent.client_id, OrderStatus.FAILED, self.now_ms, str(exc))]
            for event in events:
                self._apply(event)
            return
        if self.closing:
            log.warning("%s not sent: shutting down", intent.client_id)
            self._apply(
                OrderClosed(
                    intent.client_id, OrderStatus.FAILED, intent.ts_ms, "not sent: shutting down"
                )
            )
            return
        if self._journal is not None:
            try:
                self._journal.record_intent(intent)
            except JournalError as exc:
                # Not on disk, so not sent: the order fails, entries stop.
                log.error("%s not sent: %s; new entries paused", intent.client_id, exc)
                self._journal_down(str(exc))
                self._apply(
                    OrderClosed(
                        intent.client_id, OrderStatus.FAILED, intent.ts_ms, f"not sent: {exc}"
                    )
                )
                return
        assert self._nursery is not None
        self._nursery.start_soon(self._follow, intent)

    def _journal_down(self, why: str) -> None:
        if not self.trader.paused:
            self.trader.paused = True
            self.state = RunState.PAUSED
            log.error("the journal cannot be written (%s): entries paused until it can", why)

    async def _follow(
        self,
        intent: OrderIntent,
        resume: tuple[list[Fill], dict[str, Any]] | None = None,
    ) -> None:
        """One order on a real (or latency-simulating) broker, until it is over.

        Shielded: quitting does not cut it off mid-way; the shutdown gives it
        `exchange.shutdown_grace_s` to finish, then cancels it (its journal row stays open
        and the next start resumes it).
        """
        scope = trio.CancelScope(shield=True)
        self._follow_scopes[intent.client_id] = scope
        if self.closing:
            scope.deadline = trio.current_time() + self.settings.exchange.shutdown_grace_s
        try:
            with scope:
                if resume is None:
                    await self._broker.follow(intent, self._apply)
                else:
                    assert self._exchange is not None
                    await self._exchange.resume(intent, self._apply, *resume)
            if scope.cancelled_caught:
                log.warning(
                    "%s still open at shutdown; the next start resumes it", intent.client_id
                )
        except trio.Cancelled:
            raise
        except Exception as exc:
            # The order's fate is unknown: block the symbol until it is recovered.
            log.error(
                "order %s (%s %s): %s; %s blocked until recovered",
                intent.client_id,
                intent.side.value,
                intent.symbol,
                exc,
                intent.symbol,
            )
            self.trader.fault(intent.symbol, str(exc))
        finally:
            self._follow_scopes.pop(intent.client_id, None)
            self._changed.set()

    def _apply(self, event: BrokerEvent, *, journal: bool = True) -> None:
        record = self._orders.get(event.client_id)
        if isinstance(event, Fill):
            self.trader.on_fill(event)
            if journal and self._journal is not None and record is not None:
                self._journal_fill(event, record.intent.symbol)
            if record is not None:
                with localcontext(EXACT):
                    record.filled += event.qty
                    record.value += event.qty * event.price
                    record.fee += event.fee
                record.status = OrderStatus.PARTIALLY_FILLED
            return
        assert isinstance(event, OrderClosed)
        if record is not None:
            record.status = event.status
            record.message = event.message
        trade = self.trader.on_closed(event)
        if journal and self._journal is not None:
            ledger = self.trader.ledger
            try:
                self._journal.record_close(
                    event.client_id,
                    event.status,
                    event.message,
                    (
                        ledger.free,
                        ledger.reserved,
                        ledger.in_positions,
                        ledger.realized_pnl,
                        ledger.fees_paid,
                    ),
                )
            except JournalError as exc:
                self._journal_down(str(exc))
        if trade is not None:
            self._log_trade(trade)
        elif record is not None:
            self._notice_closed(record, event)

    def _notice_closed(self, record: _OrderRecord, event: OrderClosed) -> None:
        intent = record.intent
        side = "Bought" if intent.side is Side.BUY else "Sold"
        if record.filled > 0:
            avg = record.value / record.filled
            decimals = price_decimals(self._rules(intent.symbol), float(avg))
            self.notice(
                f"{side} {intent.symbol}",
                f"{fmt_qty(record.filled)} @ {fmt_price(avg, decimals)}"
                + ("" if event.status is OrderStatus.FILLED else f" ({event.status.value})"),
            )
        elif event.status is not OrderStatus.FILLED:
            what = "buy" if intent.side is Side.BUY else "sell"
            self.notice(
                f"{intent.symbol}: {what} {event.status.value}",
                event.message or f"{intent.client_id} ended without a fill.",
                "error"
                if event.status in (OrderStatus.FAILED, OrderStatus.REJECTED)
                else "warning",
            )

    def _journal_fill(self, fill: Fill, symbol: str) -> None:
        assert self._journal is not None
        qty, cost = self.trader.holding(symbol)
        try:
            self._journal.record_fill(fill, symbol, qty, cost)
        except JournalError as exc:
            self._journal_down(str(exc))

    # -- recovery, reconciliation, shutdown ------------------------------------------------

    async def _recover(self) -> None:
        """Rebuild state from the journal, then settle every open order with the exchange.

        Raises:
            JournalError: the journal does not add up (edited by hand?): nothing trades.
        """
        journal = self._journal
        assert journal is not None
        trader = self.trader
        pending: list[JournaledOrder] = []
        known: set[str] = set()
        for jo in journal.orders():
            intent = jo.intent
            known.add(intent.client_id)
            try:
                trader.restore_intent(intent)
            except ValueError as exc:
                raise JournalError(f"{journal.path}: {exc}; the journal does not add up") from None
            self._remember(intent)
            for fill in jo.fills:
                self._apply(fill, journal=False)
            if jo.terminal:
                self._apply(
                    OrderClosed(intent.client_id, jo.status, intent.ts_ms, jo.message),
                    journal=False,
                )
            else:
                pending.append(jo)
        for symbol, (qty, cost) in journal.positions().items():
            ours = trader.holding(symbol)[0]
            if ours != qty:
                raise JournalError(
                    f"{journal.path}: positions says {symbol} {qty} (cost {cost}) but its fills "
                    f"add up to {ours}; the journal may have been edited by hand. Nothing "
                    "was traded"
                )
        trader.ledger.check()
        count = len(known)
        if count:
            log.info(
                "journal: %d orders restored, %d still open; checking them on the exchange",
                count,
                len(pending),
            )
        broker = self._exchange
        assert self._nursery is not None and broker is not None
        for jo in pending:
            order = await broker.lookup(jo.intent)
            if order is None:
                log.warning("%s never reached the exchange: closed as failed", jo.intent.client_id)
                self._apply(
                    OrderClosed(
                        jo.intent.client_id,
                        OrderStatus.FAILED,
                        jo.intent.ts_ms,
                        "never reached the exchange (found at restart)",
                    )
                )
            else:
                self._nursery.start_soon(self._follow, jo.intent, (jo.fills, order))
        await self._adopt(known)
        if journal.baseline() is None:
            if count:
                log.warning("no baseline balances in the journal: holdings are not reconciled")
            else:
                balances = await broker.balances()
                journal.set_meta(
                    "baseline_balances",
                    json.dumps({k: str(free + locked) for k, (free, locked) in balances.items()}),
                )
        journal.record_event("start", f"{count} orders restored, {len(pending)} open")

    async def _adopt(self, known: set[str]) -> None:
        """Open orders with our id prefix that the journal does not know: adopt, report."""
        journal, broker = self._journal, self._exchange
        assert journal is not None and broker is not None and self._nursery is not None
        prefix = client_id_prefix(self.settings.exchange.profile)
        for order in await broker.open_orders(prefix):
            cid = str(order["clientOrderId"])
            if cid in known:
                continue
            symbol = str(order["symbol"])
            side = Side.BUY if order.get("side") == "buy" else Side.SELL
            price = dec(order.get("price") or order.get("average") or 0)
            if not price:
                price = await broker.price(symbol)
            qty = dec(order.get("amount") or 0)
            with localcontext(EXACT):
                reserved = qty * price * (1 + self.trader.params.fee_rate)
            intent = OrderIntent(
                cid,
                symbol,
                side,
                Purpose.ENTRY if side is Side.BUY else Purpose.EXIT,
                qty,
                price,
                self.time_ms(),
                reserved=reserved,
            )
            message = (
                f"adopted {cid}: an open {side.value} of {fmt_decimal(qty)} {symbol} "
                "with our prefix that the journal did not know"
            )
            log.warning(message)
            journal.record_event("adopted", message, symbol)
            try:
                self.trader.restore_intent(intent)
            except (ValueError, LedgerError) as exc:
                self.trader.held[symbol] = f"unexplained order {cid}: {exc}"
                log.error("%s: %s; entries for %s stopped", cid, exc, symbol)
                continue
            journal.record_intent(intent, adopted=True)
            self._remember(intent)
            self._nursery.start_soon(self._follow, intent, ([], order))

    async def _reconcile_loop(self) -> None:
        period = self.settings.exchange.reconcile_s
        while True:
            await trio.sleep(period)
            try:
                await self.reconcile()
            except trio.Cancelled:
                raise
            except Exception as exc:
                log.warning("reconciliation skipped: %s", exc)

    async def reconcile(self) -> dict[str, str]:
        """Compare holdings and open orders with the exchange; hold symbols that differ.

        A difference must be seen twice in a row (an order may be between two polls);
        nothing is corrected automatically. Returns the symbols held and why.
        """
        broker = self._exchange
        assert self._journal is not None and broker is not None
        trader = self.trader
        baseline = self._journal.baseline()
        balances = await broker.balances()
        prefix = client_id_prefix(self.settings.exchange.profile)
        orders = await broker.open_orders(prefix)
        theirs_open = {str(o["clientOrderId"]): str(o["symbol"]) for o in orders}
        ours_open = {o.client_id for o in trader.open_orders()}
        tolerance = Decimal(repr(self.settings.exchange.reconcile_tolerance_pct)) / 100
        found: dict[str, str] = {}
        for symbol, book in trader.books.items():
            if book.order is not None:
                continue  # in motion: compared once it settles
            base = symbol.partition("/")[0]
            ours = trader.holding(symbol)[0]
            if baseline is not None:
                free, locked = balances.get(base, (ZERO, ZERO))
                theirs = free + locked - baseline.get(base, ZERO)
                allowed = max(book.rules.qty_step, ours * tolerance)
                if abs(theirs - ours) > allowed:
                    found[symbol] = (
                        f"holding {fmt_decimal(ours)} {base} here, "
                        f"{fmt_decimal(theirs)} on the exchange"
                    )
        for cid, symbol in theirs_open.items():
            if cid not in ours_open:
                found[symbol] = f"open order {cid} on the exchange is not ours to follow"
        for symbol in list(self._suspect):
            if symbol not in found:
                del self._suspect[symbol]
        for symbol, why in found.items():
            self._suspect[symbol] = self._suspect.get(symbol, 0) + 1
            if self._suspect[symbol] >= 2 and trader.held.get(symbol) != why:
                trader.held[symbol] = why
                log.error("reconciliation: %s: %s; entries for %s stopped", symbol, why, symbol)
                self._journal.record_event("mismatch", why, symbol)
        for symbol in list(trader.held):
            if symbol not in found:
                log.info("reconciliation: %s agrees with the exchange again", symbol)
                del trader.held[symbol]
        self._changed.set()
        return dict(trader.held)

    async def _shutdown_watch(self) -> None:
        """At shutdown: send nothing new; cancel entries if asked; give orders in flight time."""
        try:
            await trio.sleep_forever()
        finally:
            self.closing = True
            grace = self.settings.exchange.shutdown_grace_s
            deadline = trio.current_time() + grace
            for scope in self._follow_scopes.values():
                scope.deadline = min(scope.deadline, deadline)
            exchange = self._exchange
            if self.settings.exchange.shutdown_policy == "cancel_entries" and exchange is not None:
                entries = [o for o in self.trader.open_orders() if o.purpose is Purpose.ENTRY]
                with trio.CancelScope(shield=True) as cs:
                    cs.deadline = deadline
                    for intent in entries:
                        log.info("shutdown: cancelling open entry %s", intent.client_id)
                        await exchange.cancel(intent)

    def _remember(self, intent: OrderIntent) -> None:
        self._orders[intent.client_id] = _OrderRecord(intent)
        self._order_ids.append(intent.client_id)
        while len(self._order_ids) > ORDER_HISTORY:
            old = self._order_ids.popleft()
            self._orders.pop(old, None)

    def _log_intent(self, intent: OrderIntent) -> None:
        decimals = price_decimals(self._rules(intent.symbol), float(intent.price))
        if intent.purpose is Purpose.ENTRY:
            assert intent.anchor is not None and intent.drop_pct is not None
            log.info(
                "BUY %s %s @ %s: %.2f%% below anchor %s",
                fmt_qty(intent.qty),
                intent.symbol,
                fmt_price(intent.price, decimals),
                intent.drop_pct,
                fmt_price(intent.anchor, decimals),
                extra={"fields": {"order": intent.client_id}},
            )
        else:
            reason = intent.reason.value if intent.reason else "manual"
            log.info(
                "SELL %s %s @ %s: %s",
                fmt_qty(intent.qty),
                intent.symbol,
                fmt_price(intent.price, decimals),
                reason.replace("_", " "),
                extra={"fields": {"order": intent.client_id}},
            )

    def _log_trade(self, trade: Trade) -> None:
        self.trades += 1
        if trade.pnl > 0:
            self.wins += 1
        log.info(
            "closed %s: %s, pnl %+.2f %s",
            trade.symbol,
            trade.exit_reason.value.replace("_", " "),
            trade.pnl,
            self.settings.budget.quote,
            extra={"fields": {"pnl": fmt_decimal(trade.pnl)}},
        )
        self._trades.appendleft(trade)  # frozen: shown as it is
        reason = trade.exit_reason.value
        decimals = price_decimals(self._rules(trade.symbol), float(trade.exit_price))
        self.notice(
            f"Sold {trade.symbol}: {reason.replace('_', ' ')}",
            f"{fmt_qty(trade.qty)} @ {fmt_price(trade.exit_price, decimals)}, "
            f"PnL {trade.pnl:+.2f} {self.settings.budget.quote}",
            "information" if trade.pnl >= 0 else "warning",
            answer=trade.exit_reason is ExitReason.MANUAL,
        )

    # -- snapshots -------------------------------------------------------------------------

    def snapshot(self) -> EngineSnapshot:
        """An immutable view of the current state."""
        self._refresh_markets()
        trader = self.trader
        ledger = trader.ledger
        now = self.time_ms()
        params = trader.params
        self._seq += 1
        history = self._history
        watch = []
        positions = []
        for symbol in self._symbols:
            book = trader.books.get(symbol)
            rules = self._markets.get(symbol)
            if book is None or not book.last_ts:
                watch.append(
                    WatchRow(
                        symbol,
                        None,
                        None,
                        None,
                        None,
                        *trader.status(symbol, now),
                        price_decimals(rules, None),
                    )
                )
                continue
            last = book.last_price
            decimals = self._decimals.get(symbol)
            if decimals is None:
                decimals = price_decimals(rules, last)
                if rules is not None and rules.price_tick is not None:
                    self._decimals[symbol] = decimals  # fixed by the market's tick
            anchor = book.anchor_price
            drop = (anchor - last) / anchor * 100 if anchor else None
            status, status_ms = trader.status(symbol, now)
            watch.append(
                WatchRow(
                    symbol,
                    last,
                    anchor,
                    drop,
                    None if drop is None else params.trigger_pct - drop,
                    status,
                    status_ms,
                    decimals,
                    history.spark(symbol) if history is not None else (),
                )
            )
            position = book.position
            if position is None or position.qty <= 0:
                continue
            value = position.qty * dec(last)
            exit_fee = value * params.fee_rate
            pnl = value - exit_fee - position.cost - position.entry_fees
            watch_ = book.watch
            positions.append(
                PositionRow(
                    symbol=symbol,
                    qty=position.qty,
                    entry_price=position.entry_price,
                    entry_ts_ms=position.entry_ts_ms,
                    last=last,
                    cost=position.cost,
                    value=value,
                    pnl=pnl,
                    pnl_pct=float(pnl / position.cost * 100) if position.cost else 0.0,
                    held_ms=max(0, now - position.entry_ts_ms),
                    stop_price=watch_.stop_price if watch_ else None,
                    take_price=watch_.take_price if watch_ else None,
                    trail_price=watch_.trail_price if watch_ else None,
                    decimals=decimals,
                )
            )
        orders = []
        for cid in reversed(self._order_ids):
            record = self._orders[cid]
            intent = record.intent
            orders.append(
                OrderRow(
                    client_id=cid,
                    ts_ms=intent.ts_ms,
                    symbol=intent.symbol,
                    side=intent.side.value,
                    purpose=intent.purpose.value,
                    qty=intent.qty,
                    price=intent.price,
                    status=record.status.value,
                    filled=record.filled,
                    avg_price=record.value / record.filled if record.filled else None,
                    fee=record.fee,
                    reason=(intent.reason.value if intent.reason else "drop trigger")
                    + (f": {record.message}" if record.message else ""),
                    decimals=price_decimals(self._markets.get(intent.symbol), float(intent.price)),
                )
            )
        equity = trader.equity()
        return EngineSnapshot(
            seq=self._seq,
            ts_ms=now,
            mode=self.mode,
            state=self.state,
            source=self._source.name,
            quote=ledger.quote,
            initial=ledger.initial,
            equity=equity,
            free=ledger.free,
            reserved=ledger.reserved,
            in_positions=ledger.in_positions,
            realized_pnl=ledger.realized_pnl,
            fees_paid=ledger.fees_paid,
            open_positions=trader.open_count,
            max_positions=params.max_positions,
            trigger_pct=params.trigger_pct,
            ticks=self.ticks,
            trades=self.trades,
            wins=self.wins,
            watch=tuple(watch),
            positions=tuple(positions),
            orders=tuple(orders),
            log_seq=self._log_ring.last_seq if self._log_ring is not None else 0,
            feed=self._source.health() if hasattr(self._source, "health") else "",
            circuit=self._circuit_text(),
            pnl_today=equity - self._day_open_equity,
            equity_curve=(*self._equity.points(), (now, float(equity))),
            recent_trades=tuple(self._trades),
            notices=tuple(self._notices),
            focus=self._focus_chart(),
            replay=self._source.replay_status() if hasattr(self._source, "replay_status") else None,
            paused_symbols=frozenset(trader.paused_symbols),
        )

    def _focus_chart(self) -> FocusChart | None:
        symbol = self._focus
        if symbol is None or self._history is None:
            return None
        book = self.trader.books.get(symbol)
        anchor = book.anchor_price if book is not None else None
        trigger = anchor * (1 - self.trader.params.trigger_pct / 100) if anchor else None
        entry = None
        if book is not None and book.position is not None and book.position.qty > 0:
            entry = (book.position.entry_ts_ms, float(book.position.entry_price))
        last = book.last_price if book is not None else None
        return FocusChart(
            symbol,
            self._history.bars(symbol),
            anchor,
            trigger,
            price_decimals(self._markets.get(symbol), last),
            entry,
        )

    def _circuit_text(self) -> str:
        client = self._client
        if client is None:
            return ""
        breaker = client.breaker
        state = breaker.state
        if state is BreakerState.OPEN:
            return f"circuit open {breaker.retry_in_s:.0f}s"
        if state is BreakerState.HALF_OPEN:
            return "circuit half-open"
        paused = client.budget.paused_for
        return f"rate limited {paused:.0f}s" if paused > 0 else ""


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions inside a (nested) exception group, or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaf_errors(inner)]
    return [exc]


def _is_cancellation(exc: BaseException) -> bool:
    return all(isinstance(leaf, trio.Cancelled) for leaf in leaf_errors(exc))


def describe_error(exc: BaseException) -> str:
    """`Type: message` of every real error inside a (nested) exception group."""
    return "; ".join(
        f"{type(leaf).__name__}: {leaf}"
        for leaf in leaf_errors(exc)
        if not isinstance(leaf, trio.Cancelled)
    )
