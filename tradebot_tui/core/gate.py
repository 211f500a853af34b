"""The entry gate: the one owner of "may we buy", as far as pauses go.

Entries stop for reasons of different owners: the trader's pause key, the kill switch,
a journal that cannot be written, the exchange's circuit breaker, a quote balance that
disagrees with the ledger. The gate holds the set of reasons in force; entries are
paused while it is not empty, and each reason is added and removed only by its own
source, so that one source coming back never lifts another's pause (the journal coming
back does not resume entries the trader paused). Coins are held one by one the same
way: paused by the trader, an order the exchange showed that nothing explains, a holding
that disagrees with the exchange.

Exits never pass through the gate: a paused bot still sells. Which source owns which
reason: docs/architecture.md, "The entry gate".
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from tradebot_tui.core.status import Status


class Pause(StrEnum):
    """Why entries are paused on every coin; each has one source that adds and removes it."""

    OWNER = "owner"  # the pause key, /pause; resuming removes it
    KILL_SWITCH = "kill switch"  # tripped; resuming re-arms it
    JOURNAL = "journal"  # an order cannot be put on disk before it is sent
    BREAKER = "circuit breaker"  # the exchange failed repeatedly
    QUOTE_DRIFT = "quote balance"  # reconciliation: the quote balance disagrees


class CoinHold(StrEnum):
    """Why entries are held on one coin; each has one source that adds and removes it."""

    OWNER = "owner"  # paused by the trader (`z`), or its entry cancelled by the trader
    UNEXPLAINED = "unexplained order"  # the exchange showed an order nothing explains
    MISMATCH = "balance mismatch"  # reconciliation: the holding disagrees


# What the watchlist says for each account-wide pause; the first three read "paused".
_PAUSE_STATUS = {
    Pause.OWNER: Status.PAUSED,
    Pause.KILL_SWITCH: Status.PAUSED,
    Pause.JOURNAL: Status.PAUSED,
    Pause.BREAKER: Status.CIRCUIT_OPEN,
    Pause.QUOTE_DRIFT: Status.MISMATCH,
}


class EntryGate:
    """The reasons entries are paused, account-wide and coin by coin."""

    __slots__ = ("_coins", "_open", "_paused", "_reasons")

    def __init__(self) -> None:
        self._reasons: dict[Pause, str] = {}
        self._coins: dict[CoinHold, dict[str, str]] = {hold: {} for hold in CoinHold}
        self._paused = False
        # Nothing pauses and no coin is held by what blocks entries: `blocks` answers None
        # at once (asked for every coin at every snapshot; enum-keyed lookups are slow).
        self._open = True

    def _changed(self) -> None:
        coins = self._coins
        self._paused = self._shows_paused()
        self._open = not self._reasons and not (
            coins[CoinHold.OWNER] or coins[CoinHold.UNEXPLAINED] or coins[CoinHold.MISMATCH]
        )

    # -- account-wide ------------------------------------------------------------------------

    def pause(self, reason: Pause, detail: str = "") -> bool:
        """Pause entries for `reason` (its detail replaced); True when it was not in force."""
        new = reason not in self._reasons
        self._reasons[reason] = detail
        self._changed()
        return new

    def release(self, reason: Pause) -> bool:
        """`reason` no longer holds; True when it was in force."""
        held = self._reasons.pop(reason, None) is not None
        self._changed()
        return held

    def set(self, reason: Pause, on: bool, detail: str = "") -> bool:
        """Pause or release for `reason` as `on` says; True when that changed something."""
        if on:
            return self.pause(reason, detail) if reason not in self._reasons else False
        return self.release(reason)

    def holds(self, reason: Pause) -> bool:
        return reason in self._reasons

    def detail(self, reason: Pause) -> str | None:
        """What `reason` said when it paused entries, or None when it is not in force."""
        return self._reasons.get(reason)

    @property
    def reasons(self) -> Mapping[Pause, str]:
        return MappingProxyType(self._reasons)

    @property
    def closed(self) -> bool:
        """No entry on any coin: some reason is in force."""
        return bool(self._reasons)

    @property
    def paused(self) -> bool:
        """Entries read as paused (the owner, the kill switch or the journal): what the
        header calls "entries paused"; the breaker and a drift show as themselves."""
        return self._paused

    def _shows_paused(self) -> bool:
        return any(_PAUSE_STATUS[r] is Status.PAUSED for r in self._reasons)

    # -- coin by coin ------------------------------------------------------------------------

    def hold(self, hold: CoinHold, symbol: str, why: str = "") -> bool:
        """Hold entries on `symbol` for `hold`; True when it was not held for it."""
        coins = self._coins[hold]
        new = symbol not in coins
        coins[symbol] = why
        self._changed()
        return new

    def unhold(self, hold: CoinHold, symbol: str) -> bool:
        """`symbol` is no longer held for `hold`; True when it was."""
        gone = self._coins[hold].pop(symbol, None) is not None
        self._changed()
        return gone

    def held(self, hold: CoinHold) -> Mapping[str, str]:
        """The coins held for `hold`, with why."""
        return MappingProxyType(self._coins[hold])

    def coin_held(self, symbol: str) -> bool:
        """Whether anything holds `symbol` (the universe must not drop it)."""
        return any(symbol in coins for coins in self._coins.values())

    # -- the answer --------------------------------------------------------------------------

    def blocks(self, symbol: str) -> Status | None:
        """Why `symbol` may not be bought as far as pauses go (None: they let it)."""
        if self._open:
            return None
        coins = self._coins
        reasons = self._reasons
        if self._paused:
            return Status.PAUSED
        if symbol in coins[CoinHold.OWNER]:
            return Status.SYMBOL_PAUSED
        if Pause.BREAKER in reasons:
            return Status.CIRCUIT_OPEN
        if symbol in coins[CoinHold.UNEXPLAINED]:
            return Status.UNEXPLAINED
        if symbol in coins[CoinHold.MISMATCH] or Pause.QUOTE_DRIFT in reasons:
            return Status.MISMATCH
        return None
