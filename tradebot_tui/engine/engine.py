"""The engine: market data, strategy, orders and snapshots as trio services in one nursery.

It runs as a trio guest inside the Textual app, or under plain `trio.run` (`--headless`).
All domain state lives in one thread: nothing here takes a lock. This module wires the
trading services and runs the tick loop; each job has its module: `router`, `control`,
`recovery`, `reconciliation`, `healer`, `watchkeeper`, `kill_switch`, `views`, `wording`.
What the owner away from the terminal is told is not the engine's job: services plugged
in with `add_service` (docs/architecture.md, "How a tick and an order travel").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.gate import Pause
from tradebot_tui.core.identity import client_id_prefix
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.market import MarketRules, replay_rules
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine import wording
from tradebot_tui.engine.commands import Command, ReplayControllable
from tradebot_tui.engine.context import Context
from tradebot_tui.engine.control import Controller
from tradebot_tui.engine.errors import crash_later, log_stop
from tradebot_tui.engine.healer import Healer
from tradebot_tui.engine.kill_switch import KillSwitchWatch
from tradebot_tui.engine.logs import LogRing
from tradebot_tui.engine.readings import Readings
from tradebot_tui.engine.reconciliation import Reconciliation
from tradebot_tui.engine.recorder import TickRecorder
from tradebot_tui.engine.recovery import Recovery, watch_shutdown
from tradebot_tui.engine.router import OrderRouter
from tradebot_tui.engine.services import Service
from tradebot_tui.engine.side_jobs import SideJobs
from tradebot_tui.engine.snapshot import EngineSnapshot
from tradebot_tui.engine.supervisor import Supervisor
from tradebot_tui.engine.sweeper import LAST_SWEEP
from tradebot_tui.engine.views import Views
from tradebot_tui.engine.watch import RunState
from tradebot_tui.engine.watchkeeper import Watchkeeper
from tradebot_tui.engine.wording import NoticeText
from tradebot_tui.exchange.base import (
    Broker,
    Connection,
    ExchangeBroker,
    MarketDataSource,
    OnExchange,
    PricesOnDemand,
    ReportsHealth,
    TickBatch,
    WatchesHeld,
)
from tradebot_tui.journal.store import Journal
from tradebot_tui.journal.writer import JournalWriter

if TYPE_CHECKING:
    from tradebot_tui.engine.protector import Protector

log = logging.getLogger("tradebot.engine")

TICK_CHANNEL_SIZE = 256
COMMAND_CHANNEL_SIZE = 64


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
            source: Where ticks come from. broker: Where orders go. mode: "PAPER" or "LIVE".
            publish: Called with each snapshot (at most `ui.refresh_hz` times a second).
            log_ring: The in-memory log for the logs screen; stamped with engine time.
            crash_after_s: Raise InjectedCrash after this many seconds (tests).
            clock: Milliseconds since the epoch before the first tick arrives; wall clock
                by default (tests pass a fixed one).
            recordings: Record every live tick to rotating files in this folder.
            journal: Write-ahead journal of orders: recovered from at start.
        """
        self.mode = mode
        self._source, self.source_name = source, source.name
        self._publish = publish
        self._log_ring = log_ring
        self._crash_after_s = crash_after_s
        self.recorder = TickRecorder(recordings) if recordings is not None else None
        self._journal = journal
        # Optional capabilities, declared as Protocols in exchange.base and commands.
        self._account = broker if isinstance(broker, ExchangeBroker) else None
        self.feed_health = source if isinstance(source, ReportsHealth) else None
        self._replay = source if isinstance(source, ReplayControllable) else None
        # Set when the run ends: the positions it leaves unguarded, in words ("" if none).
        self.left_open = ""
        self.connection: Connection | None = next(
            (x.client for x in (source, broker) if isinstance(x, OnExchange)), None
        )
        self._markets: dict[str, MarketRules] = source.markets()
        self._ready = trio.Event()  # set once recovery is done: ticks wait for it
        self._run_state = RunState.STARTING
        self.ticks = 0
        self.context = context = Context(clock)
        self.trader = Trader(
            settings.strategy_params(),
            Ledger(settings.budget.quote, settings.budget.initial),
            self._rules,
            id_prefix=client_id_prefix(
                settings.exchange.profile, journal.identity if journal is not None else "sim"
            ),
        )
        self.views = Views(self.trader, watched=publish is not None)
        context.listen(self.views.notice)
        # Every service off the trading path runs under it: caught, shown, restarted.
        self.supervisor = Supervisor(changed=context.changed)
        self.side_jobs = SideJobs(self.trader, self.recorder, context, self.supervisor)
        # The journal's writer, off the loop; services that keep state across restarts
        # (unsent notifications) write through it too.
        self.journal_writer = (
            JournalWriter(
                journal,
                on_error=lambda exc: self.side_jobs.journal_down(str(exc)),
                on_recovered=self.side_jobs.journal_up,
            )
            if journal is not None
            else None
        )
        self.router = OrderRouter(
            self.trader,
            broker,
            context,
            account=self._account,
            journal=self.journal_writer,
            rules=self._rules,
            quote=settings.budget.quote,
            grace_s=settings.exchange.shutdown_grace_s,
            on_trade=self.views.add_trade,
            on_journal_down=self.side_jobs.journal_down,
        )
        self.reconciliation = (
            Reconciliation(
                self.trader,
                self._account,
                self.journal_writer,
                profile=settings.exchange.profile,
                tolerance_pct=settings.exchange.reconcile_tolerance_pct,
            )
            if self._account is not None and self.journal_writer is not None
            else None
        )
        self.watchkeeper = Watchkeeper(
            self.trader,
            context,
            universe=source if isinstance(source, WatchesHeld) else None,
            prices=source if isinstance(source, PricesOnDemand) else None,
            execute=self.router.execute,
        )
        self.healer = Healer(self.trader, self.router, context)
        self.protector: Protector | None = None  # exits resting on the exchange (live)
        if mode == "LIVE":  # ccxt's world: a paper start never loads it
            from tradebot_tui.engine.protector import live_protector

            self.protector = live_protector(
                broker, self.trader, self.router, self.journal_writer, journal, context, settings
            )
        self.control = Controller(
            self.trader,
            self.router,
            self.views,
            context,
            settings=settings,
            journal=self.journal_writer,
            replay=self._replay,
            healer=self.healer,
            reconciliation=self.reconciliation,
            account=self._account,
            last_sweep=journal.meta(LAST_SWEEP) if journal is not None else None,
        )
        self.kill_switch = KillSwitchWatch(self.trader, lambda: self.settings, self.submit)
        self._services: list[Service] = []
        self._cmd_send, self._cmd_recv = trio.open_memory_channel[Command](COMMAND_CHANNEL_SIZE)
        if log_ring is not None:
            log_ring.clock = context.now
        connection, reconciliation = self.connection, self.reconciliation
        # What the services off the trading path read, as functions.
        self.readings = Readings(
            state=lambda: self.state.value,
            feed=lambda: self.feed_health.health() if self.feed_health is not None else "",
            circuit_open=lambda: connection is not None and connection.circuit_open,
            problems=self.side_jobs.problems,
            drift=lambda: reconciliation.drift if reconciliation is not None else None,
            ticks=lambda: self.ticks,
            last_tick_ms=lambda: self.context.last_tick_ms,
            exchange=connection.counters if connection is not None else dict,
            router=self.router,
            away=self.away_text,
            info={"mode": self.mode, "source": self.source_name},
        )

    # -- reading ---------------------------------------------------------------------------

    def time_ms(self) -> int:
        """Engine time: the clock, or the last tick's timestamp when that is later."""
        return self.context.now()

    @property
    def now_ms(self) -> int:
        """The timestamp of the last tick handled (0 before the first)."""
        return self.context.last_tick_ms

    @property
    def settings(self) -> Settings:
        """The settings in effect (the strategy, risk and exit sections can change live)."""
        return self.control.settings

    @property
    def state(self) -> RunState:
        """Starting, running, paused (entries) or stopping."""
        if self._run_state is RunState.RUNNING and self.trader.gate.paused:
            return RunState.PAUSED
        return self._run_state

    @property
    def following(self) -> int:
        """Orders being followed on the broker right now."""
        return self.router.following

    @property
    def trades(self) -> int:
        """Round trips closed so far."""
        return self.views.trade_count

    def markets(self) -> dict[str, MarketRules]:
        """The markets the engine trades now (the source's universe, held coins included)."""
        return self._markets

    def _rules(self, symbol: str) -> MarketRules:
        return self._markets.get(symbol) or replay_rules(symbol)

    def _refresh_markets(self) -> None:
        """Follow the source's universe (a source replaces its dict when it changes)."""
        markets = self._source.markets()
        if markets is not self._markets:
            self._markets = markets
            self.trader.forget(markets, self.time_ms())
            self.views.markets_changed(markets)

    def add_service(self, service: Service) -> None:
        """Run `service` (the owner's notifications, remote control) in the engine's
        nursery once it is ready; its alerts and header join the snapshot."""
        self._services.append(service)

    def notice(self, text: NoticeText) -> None:
        """Tell the trader something now (shown as a notification by the app)."""
        self.context.notice(text)

    def snapshot(self) -> EngineSnapshot:
        """An immutable view of the current state."""
        self._refresh_markets()
        return self.views.snapshot(
            now=self.time_ms(),
            mode=self.mode,
            state=self.state,
            source=self._source.name,
            markets=self._markets,
            orders=self.router.recent(),
            ticks=self.ticks,
            log_seq=self._log_ring.last_seq if self._log_ring is not None else 0,
            feed=self.feed_health.health() if self.feed_health is not None else "",
            circuit=self.connection.circuit_text() if self.connection is not None else "",
            replay=self._replay.replay_status() if self._replay is not None else None,
            outside=self.watchkeeper.outside_universe(),
            problems=self.side_jobs.problems() + self.alerts(),
            away=self.away_text(),
        )

    def alerts(self) -> tuple[str, ...]:
        """The plugged-in services' alerts in force."""
        return tuple(alert for service in self._services for alert in service.alerts())

    def away_text(self) -> str:
        """The services' words in the header, then the kill switch's."""
        parts = [service.header() for service in self._services]
        parts.append(self.kill_switch.header())
        return " · ".join(part for part in parts if part)

    async def reconcile(self) -> dict[str, str]:
        """Compare holdings and open orders with the exchange once; the symbols held, why."""
        assert self.reconciliation is not None, "reconciliation needs a live account"
        held = await self.reconciliation.check()
        self.context.changed()
        return held

    # -- control ---------------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Queue a control command (inside the trio run); trio.WouldBlock when the queue
        is full (the engine is stuck)."""
        self._cmd_send.send_nowait(command)

    async def _control(self) -> None:
        async for command in self._cmd_recv:
            await self.control.apply(command)
            self.context.changed()

    # -- services --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run every service until cancelled (or until one of them fails)."""
        send, recv = trio.open_memory_channel[TickBatch](TICK_CHANNEL_SIZE)
        writer = self.journal_writer
        try:
            async with trio.open_nursery() as nursery:
                self.router.attach(nursery)
                if writer is not None:
                    await nursery.start(writer.run)
                nursery.start_soon(self._consume, recv)
                nursery.start_soon(self._control)
                nursery.start_soon(self._publisher)
                if self.recorder is not None:
                    nursery.start_soon(
                        partial(
                            self.supervisor.run,
                            "recorder",
                            self.recorder.run,
                            signals_start=False,
                        )
                    )
                if self._crash_after_s is not None:
                    nursery.start_soon(crash_later, self._crash_after_s)
                policy = lambda: self.settings.exchange.shutdown_policy  # noqa: E731
                nursery.start_soon(watch_shutdown, self.router, writer, self.trader, policy)
                if self.connection is not None:
                    await nursery.start(self.connection.keep_time)
                await nursery.start(self._source.run, send)
                for name, loop in self._source.side_loops(send):
                    nursery.start_soon(
                        partial(self.supervisor.run, name, loop, signals_start=False)
                    )
                self._refresh_markets()
                if self._journal is not None and writer is not None:
                    await self._recover(writer, nursery)
                self._ready.set()
                log.info(
                    wording.started_line(
                        self.mode, self._source.name, len(self._markets), self.settings
                    )
                )
                if self.reconciliation is not None:
                    await self.reconciliation.report_balance(
                        self.settings.budget.quote, self.settings.budget.initial
                    )
                if self.watchkeeper.prices_quiet_coins:
                    nursery.start_soon(self.watchkeeper.run)
                if self._account is not None:
                    nursery.start_soon(self.healer.run)
                if self.protector is not None:
                    nursery.start_soon(self.protector.run)
                nursery.start_soon(self.kill_switch.run)
                daily = self.control.sweeper.run_daily
                nursery.start_soon(
                    partial(self.supervisor.run, "dust sweep", daily, signals_start=False)
                )
                for service in self._services:
                    await nursery.start(partial(self.supervisor.run, service.name, service.run))
                self._run_state = RunState.RUNNING
                self.context.changed()  # the first snapshot, ticks or not (a paused replay)
                task_status.started()
        except BaseException as exc:
            why, crashed = log_stop(exc)
            with trio.CancelScope(shield=True):
                for service in self._services:
                    await service.stopped(why, crashed=crashed)
            raise
        finally:
            self._run_state = RunState.STOPPING
            log.info("engine stopped")
            if self._replay is None:
                trader = self.trader
                self.left_open = wording.left_open(
                    trader.held_positions(), live=self.mode == "LIVE", resting=trader.resting()
                )
                if self.left_open:
                    log.warning(self.left_open)

    async def _recover(self, writer: JournalWriter, nursery: trio.Nursery) -> None:
        """Bring the state back from the journal; then compare with the exchange regularly."""
        assert self._journal is not None
        settings = self.settings
        recovery = Recovery(
            self._journal,
            writer,
            self.trader,
            self.router,
            self._account,
            self.context,
            profile=settings.exchange.profile,
            quote=settings.budget.quote,
            symbols=self.markets,
            lists_live=self.protector is not None,
        )
        baseline = await recovery.run()
        if self.reconciliation is not None:
            self.reconciliation.baseline = baseline
            nursery.start_soon(
                self.reconciliation.run, settings.exchange.reconcile_s, self.context.changed
            )

    async def _consume(self, recv: trio.MemoryReceiveChannel[TickBatch]) -> None:
        trader, views, execute = self.trader, self.views, self.router.execute
        context = self.context
        await self._ready.wait()
        async for batch in recv:
            self._refresh_markets()  # a refresh between two snapshots is followed now
            ticks = batch.of(self._markets)
            if not ticks:  # a source with news but no ticks (a replay that ended)
                context.changed()
                continue
            if batch.warmup:
                for ts, symbol, price in ticks:
                    trader.warm(ts, symbol, price)
            else:
                views.live_batch_starts(ticks[0][0])
                trader.now_ms = self.time_ms()
                if self.connection is not None:
                    trader.gate.set(Pause.BREAKER, self.connection.circuit_open)
                on_tick = trader.on_tick
                for ts, symbol, price in ticks:
                    intent = on_tick(ts, symbol, price)
                    if intent is not None:
                        context.last_tick_ms = ts
                        await execute(intent)
                self.ticks += len(ticks)
                if self.recorder is not None:
                    self.recorder.add(ticks)
            context.last_tick_ms = now = ticks[-1][0]
            views.batch_done(ticks, now)
            context.changed()

    async def _publisher(self) -> None:
        period = 1 / self.settings.ui.refresh_hz
        while True:
            # At least once a second: while nothing ticks (connecting, a quiet market),
            # the header's clock and the feed's state stay current.
            with trio.move_on_after(1.0):
                await self.context.wait_changed()
            if self.watchkeeper.keep_held():
                self._refresh_markets()
            if self._publish is not None:
                self._publish(self.snapshot())
            if self.ticks:  # until the first prices, they are published as they come
                await trio.sleep(period)
