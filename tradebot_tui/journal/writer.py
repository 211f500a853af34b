"""The journal's writes, in order, in a worker thread: the event loop never waits on an fsync.

A commit with synchronous=FULL is an fsync: on this project's disks its p99 passes the
2 ms a frame of the UI can spare (`benchmarks/journal.py` prints it), so no write runs on
the loop. Writes are queued in the order they happen and committed by one task, a batch
per commit (whatever queued during the previous fsync goes in the next one).

Write-before-send still holds: `intent()` returns only once the intent's row is on disk,
and the router sends the order after that. Fills, closures and events are queued without
waiting; they are on disk a commit later, in order, and a crash in between is what
recovery settles with the exchange at the next start. A failed commit calls `on_error`
(the engine pauses entries) and fails every intent in it, so none of their orders is sent;
then a small write is tried every few seconds, and the first that goes through calls
`on_recovered` (the journal's pause of entries is lifted).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import trio

from tradebot_tui.core.bracket import Bracket, ListIds
from tradebot_tui.core.orders import Fill, OrderIntent, OrderStatus
from tradebot_tui.journal import schema as rows
from tradebot_tui.journal.schema import Op
from tradebot_tui.journal.store import Journal, JournalError


@dataclass(slots=True)
class _Write:
    op: Op
    done: trio.Event | None = None
    error: JournalError | None = None


@dataclass(slots=True)
class _Stats:
    commits: int = 0
    writes: int = 0
    failures: int = 0
    max_batch: int = field(default=0)


class JournalWriter:
    """Commits the journal's writes off the event loop, in the order they were queued."""

    def __init__(
        self,
        journal: Journal,
        *,
        on_error: Callable[[JournalError], None],
        on_recovered: Callable[[], None] = lambda: None,
        probe_s: float = 5.0,
    ) -> None:
        self.journal = journal
        self.on_error = on_error
        self.on_recovered = on_recovered
        # After a failed commit, a small write is tried every `probe_s` until one goes
        # through (space came back): then `on_recovered`.
        self.probe_s = probe_s
        self.failing = False
        self.stats = _Stats()
        self._pending: deque[_Write] = deque()
        self._wake = trio.Event()
        self._idle = trio.Event()
        self._idle.set()
        self._running = False
        # One commit at a time, whoever asks (the writer task, or a final flush).
        self._limiter = trio.CapacityLimiter(1)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Commit queued writes until cancelled; then commit what is left, shielded."""
        self._running = True
        task_status.started()
        try:
            while True:
                with trio.move_on_after(self.probe_s if self.failing else math.inf):
                    await self._wake.wait()
                if self.failing and not self._pending:
                    self._queue(rows.event("journal", "checking that it can be written again"))
                self._wake = trio.Event()
                await self._flush()
        finally:
            self._running = False
            with trio.CancelScope(shield=True):
                await self._flush()

    async def _flush(self) -> None:
        while self._pending:
            batch = list(self._pending)
            self._pending.clear()
            self.stats.max_batch = max(self.stats.max_batch, len(batch))
            try:
                # Shielded: a batch taken off the queue is committed, cancelled or not
                # (a cancel here would otherwise lose it before the thread even starts).
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(
                        self.journal.write, [w.op for w in batch], limiter=self._limiter
                    )
                self.stats.commits += 1
                self.stats.writes += len(batch)
                if self.failing:
                    self.failing = False
                    self.on_recovered()
            except Exception as exc:  # whatever failed, every waiter hears of it
                error = (
                    exc
                    if isinstance(exc, JournalError)
                    else JournalError(f"journal {self.journal.path}: write failed ({exc!r})")
                )
                self.stats.failures += 1
                self.failing = True
                for w in batch:
                    w.error = error
                self.on_error(error)
            for w in batch:
                if w.done is not None:
                    w.done.set()
        self._idle.set()

    def _queue(self, op: Op, *, wait: bool = False) -> _Write:
        write = _Write(op, trio.Event() if wait else None)
        self._pending.append(write)
        self._idle = trio.Event() if self._idle.is_set() else self._idle
        self._wake.set()
        return write

    async def _commit(self, op: Op) -> None:
        write = self._queue(op, wait=True)
        if not self._running:  # no writer task (yet, or any more): commit here, off-loop
            await self._flush()
        assert write.done is not None
        await write.done.wait()
        if write.error is not None:
            raise write.error

    # -- the writes ------------------------------------------------------------------------

    async def intent(
        self, intent: OrderIntent, *, adopted: bool = False, journaled_ms: int = 0
    ) -> None:
        """Return once the intent is on disk.

        Args:
            adopted: An order the exchange made for us (a leg of a resting list), found
                and journaled after it was made; `journaled_ms`: when what made it was.

        Raises:
            JournalError: it is not: the order must not be sent.
        """
        await self._commit(rows.intent(intent, adopted=adopted, journaled_ms=journaled_ms))

    async def order_list(
        self, symbol: str, ids: ListIds, bracket: Bracket, journaled_ms: int
    ) -> None:
        """Return once the order list is on disk (raises JournalError: not sent)."""
        await self._commit(rows.order_list(symbol, ids, bracket, journaled_ms))

    def list_status(self, list_id: str, status: str, message: str = "") -> None:
        self._queue(rows.list_status(list_id, status, message))

    def fill(self, fill: Fill, symbol: str, position_qty: Decimal, cost: Decimal) -> None:
        self._queue(rows.fill(fill, symbol, position_qty, cost))

    def close(
        self, cid: str, status: OrderStatus, message: str, ledger: tuple[Decimal, ...]
    ) -> None:
        self._queue(rows.close(cid, status, message, ledger))

    def event(self, kind: str, detail: str, symbol: str | None = None) -> None:
        self._queue(rows.event(kind, detail, symbol))

    def exit_asked(self, cid: str, symbol: str, reason: str) -> None:
        self._queue(rows.exit_asked(cid, symbol, reason))

    def meta_later(self, key: str, value: str) -> None:
        """Queue a value (state worth keeping across restarts, not a write-ahead one)."""
        self._queue(rows.meta(key, value))

    async def meta(self, key: str, value: str) -> None:
        """Return once the value is on disk (raises JournalError if it is not)."""
        await self._commit(rows.meta(key, value))

    async def drain(self) -> None:
        """Wait until everything queued so far is committed (or has failed)."""
        if not self._running:
            await self._flush()
        await self._idle.wait()

    @property
    def pending(self) -> int:
        return len(self._pending)
