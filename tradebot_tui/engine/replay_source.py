"""Recorded or historical data as a market-data source, paced for watching in the app.

Replay time runs `speed` times faster than the wall clock from the data's first tick
(or `from_ms`). The source can be paused, stepped a minute at a time while paused, and
sped up or slowed down; ticks before `from_ms` are sent at once as warm-up so that the
anchors are ready when trading starts. Ticks come out in time order (a heap merge of
the inputs, ties in input order), exactly as the headless replay sees them.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from tradebot_tui.core.market import MarketRules, replay_rules
from tradebot_tui.core.ticks import Tick
from tradebot_tui.data.series import Series, iter_merged, series_span, series_symbols, span_text
from tradebot_tui.engine.commands import ReplayAction
from tradebot_tui.engine.snapshot import ReplayStatus
from tradebot_tui.exchange.base import SideLoop, TickBatch

SPEEDS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 28_800, 86_400)
STEP_MS = 60_000
FRAME_S = 0.05
MAX_BATCH = 5_000


class ReplaySource:
    """Ticks of data files at a chosen speed, with pause, step, faster and slower."""

    name = "replay"

    def __init__(
        self,
        series: Sequence[Series],
        *,
        speed: float = 60,
        from_ms: int | None = None,
        to_ms: int | None = None,
        paused: bool = False,
    ) -> None:
        span = series_span(series)
        if span is not None:
            self.first_ms = span[0] if from_ms is None else max(span[0], from_ms)
            self.last_ms = span[1] if to_ms is None else min(span[1], to_ms)
        if span is None or self.first_ms > self.last_ms:
            raise ValueError(f"no ticks to replay; the data covers {span_text(span)}")
        self._series = series
        self._markets: dict[str, MarketRules] = {s: replay_rules(s) for s in series_symbols(series)}
        self.speed = float(speed)
        self.paused = paused
        self.done = False
        self.clock_ms = self.first_ms - 1  # nothing is due until the clock runs
        self._steps = 0
        self._wake = trio.Event()

    def markets(self) -> dict[str, MarketRules]:
        return self._markets

    def side_loops(self, send: trio.MemorySendChannel[TickBatch]) -> list[SideLoop]:
        return []  # a recording needs no refresh

    # -- control (called from the engine's thread) --------------------------------------------

    def control(self, action: ReplayAction) -> None:
        if action == "pause":
            self.paused = not self.paused
        elif action == "step":
            self.paused = True
            self._steps += 1
        elif action == "faster":
            self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])
        elif action == "slower":
            self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])
        self._wake.set()

    def replay_status(self) -> ReplayStatus:
        span = max(1, self.last_ms - self.first_ms)
        return ReplayStatus(
            speed=self.speed,
            paused=self.paused,
            done=self.done,
            progress=min(1.0, max(0.0, (self.clock_ms - self.first_ms) / span)),
            first_ts_ms=self.first_ms,
            last_ts_ms=self.last_ms,
        )

    # -- running ----------------------------------------------------------------------------

    async def run(
        self,
        send: trio.MemorySendChannel[TickBatch],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        ticks = iter_merged(self._series)
        pending = next(ticks, None)
        warm: list[Tick] = []
        while pending is not None and pending[0] < self.first_ms:
            warm.append(Tick(*pending))
            pending = next(ticks, None)
        task_status.started()
        if warm:
            await send.send(TickBatch(warm, warmup=True))
        last_real = trio.current_time()
        while pending is not None and pending[0] <= self.last_ms:
            now = trio.current_time()
            if not self.paused:
                self.clock_ms += int((now - last_real) * 1000 * self.speed)
            last_real = now
            if self._steps:
                self._steps -= 1
                self.clock_ms = max(self.clock_ms, pending[0]) + STEP_MS
            batch: list[Tick] = []
            while (
                pending is not None
                and pending[0] <= self.clock_ms
                and pending[0] <= self.last_ms
                and len(batch) < MAX_BATCH
            ):
                batch.append(Tick(*pending))
                pending = next(ticks, None)
            if batch:
                await send.send(TickBatch(batch))
            if len(batch) == MAX_BATCH:
                # Behind the clock: catch up without sleeping, but let the app draw.
                self.clock_ms = min(self.clock_ms, batch[-1][0] + int(FRAME_S * 1000 * self.speed))
                await trio.lowlevel.checkpoint()
                continue
            self._wake = trio.Event()
            with trio.move_on_after(FRAME_S):
                await self._wake.wait()
        self.done = True
        self.clock_ms = self.last_ms
        await send.send(TickBatch([]))  # wakes the engine to publish the final state
        await trio.sleep_forever()
