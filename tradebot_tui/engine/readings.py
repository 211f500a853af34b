"""What the services off the trading path read from the engine (the engine makes its
`Readings`), and from the process."""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradebot_tui.engine.router import OrderRouter


def rss_mb() -> float:
    """Resident memory of this process in MB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def fd_use() -> tuple[int, int]:
    """(open file descriptors, their soft limit); (0, 0) where it cannot be known."""
    try:
        count = len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0, 0
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return count, soft if soft != resource.RLIM_INFINITY else 0


@dataclass(frozen=True, slots=True)
class Readings:
    """What the monitor reads from the engine, as functions (called once a second)."""

    state: Callable[[], str]
    feed: Callable[[], str]
    circuit_open: Callable[[], bool]
    problems: Callable[[], tuple[str, ...]]  # the side jobs'
    drift: Callable[[], Decimal | None]  # the exchange's quote balance less the ledger's
    ticks: Callable[[], int] = lambda: 0
    last_tick_ms: Callable[[], int] = lambda: 0
    exchange: Callable[[], dict[str, int]] = dict  # the connection's counters, if any
    router: OrderRouter | None = None
    away: Callable[[], str] = str  # the header's words of the services off the box
    info: dict[str, str] = field(default_factory=dict)  # mode, source, profile
