"""What the venue fakes' websockets share: a server on 127.0.0.1, and the pace of their
streams (`rate_hz` rounds a second, each spread over `slices` evenly spaced sends: a burst
of 500 messages at once is not how a feed arrives)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import trio
from trio_websocket import WebSocketRequest, serve_websocket


async def serve_loopback(
    handler: Callable[[WebSocketRequest], Awaitable[None]],
    path: str,
    task_status: trio.TaskStatus[str],
) -> None:
    """Serve `handler` on a free port of 127.0.0.1 until cancelled; `task_status` gets
    the URL, `path` appended."""
    async with trio.open_nursery() as nursery:
        serve = functools.partial(serve_websocket, handler, "127.0.0.1", 0, ssl_context=None)
        server = await nursery.start(serve)
        task_status.started(f"ws://127.0.0.1:{server.port}{path}")


class Pacer:
    def __init__(self, rate_hz: float, slices: int = 1) -> None:
        self.step = 1 / rate_hz / max(1, slices)
        self.slices = max(1, slices)
        self.part = -1
        self.due: float | None = None

    async def next(self) -> int:
        """Wait for the next send; which slice of the round it is (0 .. slices - 1)."""
        now = trio.current_time()
        self.due = now + self.step if self.due is None else max(self.due + self.step, now - 1.0)
        await trio.sleep_until(self.due)
        self.part = (self.part + 1) % self.slices
        return self.part
