"""Services the engine runs without knowing them: what the owner off the box is told.

The composition root (`tradebot_tui.wiring`) plugs them in with `Engine.add_service`;
the engine starts each once it is ready, shows its alerts and its word in the header,
and tells it when it stops. A service's failure is its own: it reports and retries
(docs/architecture.md, "Services off the trading path").
"""

from __future__ import annotations

from typing import Protocol

import trio


class Service(Protocol):
    """A side service run in the engine's nursery once the engine is ready."""

    name: str

    def alerts(self) -> tuple[str, ...]:
        """What fails or needs the owner's eye now, a few words each (the header)."""
        ...

    def header(self) -> str:
        """The service's word in the status bar ("" for none)."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None:
        """Run until cancelled; `task_status.started()` once ready."""
        ...

    async def stopped(self, why: str, *, crashed: bool) -> None:
        """The engine stops (`why`): say what must be said, within a short deadline."""
        ...
