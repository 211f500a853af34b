"""Hosting the engine: as a trio guest inside an asyncio loop (the app), or headless.

Guest mode (docs/architecture.md, "The folders and what each may import"): Textual owns
the thread's asyncio loop and trio runs inside it through `trio.lowlevel.start_guest_run`,
so the engine and the UI share one thread and no lock guards domain state. Stopping
cancels the engine's root cancel scope and waits for trio's done callback: a guest run
that is abandoned would poison the thread for every later trio run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import outcome
import trio

from tradebot_tui.engine.commands import Command
from tradebot_tui.engine.engine import Engine

log = logging.getLogger("tradebot.engine")


class GuestRun:
    """One engine run as a trio guest of the running asyncio loop."""

    def __init__(
        self,
        engine: Engine,
        on_done: Callable[[outcome.Outcome[None]], None] | None = None,
    ) -> None:
        self.engine = engine
        self._on_done = on_done
        self._token: trio.lowlevel.TrioToken | None = None
        # Created here so that a stop asked before the engine's first step still counts.
        self._scope = trio.CancelScope()
        self._done: asyncio.Future[outcome.Outcome[None]] | None = None

    @property
    def started(self) -> bool:
        return self._done is not None

    @property
    def finished(self) -> bool:
        return self._done is not None and self._done.done()

    @property
    def result(self) -> outcome.Outcome[None] | None:
        """How the run ended, once it has."""
        if self._done is None or not self._done.done():
            return None
        return self._done.result()

    def start(self) -> None:
        """Start the guest run on the current asyncio loop (call from inside it)."""
        if self._done is not None:
            raise RuntimeError("this engine run was started already")
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        trio.lowlevel.start_guest_run(
            self._main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=self._finish,
            # asyncio owns signal.set_wakeup_fd (loop.add_signal_handler); trio must not
            # take it over.
            host_uses_signal_set_wakeup_fd=True,
        )
        # Sync trio functions work from the host once start_guest_run has returned.
        self._token = trio.lowlevel.current_trio_token()

    async def _main(self) -> None:
        with self._scope:
            await self.engine.run()

    def _finish(self, result: outcome.Outcome[None]) -> None:
        assert self._done is not None
        if not self._done.done():
            self._done.set_result(result)
        if self._on_done is not None:
            self._on_done(result)

    def submit(self, command: Command) -> bool:
        """Hand a command to the engine; False when it is not running or is too busy."""
        if self._token is None or self.finished:
            return False

        def deliver() -> None:
            try:
                self.engine.submit(command)
            except trio.WouldBlock:
                log.error("engine command queue full; dropped %s", type(command).__name__)

        try:
            self._token.run_sync_soon(deliver)
        except trio.RunFinishedError:
            return False
        return True

    def cancel(self) -> None:
        """Ask the engine to stop (cancel its root scope); returns at once."""
        if self._token is None or self.finished:
            return
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._scope.cancel)

    async def stop(self) -> outcome.Outcome[None] | None:
        """Cancel the engine and wait until trio's done callback has run."""
        if self._done is None:
            return None
        self.cancel()
        return await asyncio.shield(self._done)


def run_headless(engine: Engine, *, until: Callable[[], Awaitable[Any]] | None = None) -> None:
    """Run the engine under plain `trio.run` until SIGINT, SIGTERM or SIGHUP.

    The first signal stops the engine; later ones, while it stops (orders in flight get
    their grace, the last notification goes out), are noted and do not cut the stop short.

    Args:
        engine: The engine.
        until: An optional coroutine function; when it returns, the engine stops (tests).
    """

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
            async with trio.open_nursery() as outer:
                engine_scope = trio.CancelScope()

                async def watch_signals() -> None:
                    async for signum in signals:
                        name = signal.Signals(signum).name
                        if engine_scope.cancel_called:
                            log.warning("received %s while stopping: the stop goes on", name)
                            continue
                        log.info("received %s, stopping", name)
                        engine_scope.cancel()

                outer.start_soon(watch_signals)
                with engine_scope:
                    async with trio.open_nursery() as nursery:
                        await nursery.start(engine.run)
                        if until is not None:
                            await until()
                            nursery.cancel_scope.cancel()
                outer.cancel_scope.cancel()

    trio.run(main)
