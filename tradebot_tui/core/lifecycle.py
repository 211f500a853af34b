"""The per-symbol lifecycle state machine: one explicit transition table, one `apply`."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where one symbol stands in its trade lifecycle."""

    IDLE = "idle"
    ENTRY_PENDING = "entry_pending"
    ENTRY_PARTIAL = "entry_partial"
    IN_POSITION = "in_position"
    EXIT_PENDING = "exit_pending"
    EXIT_PARTIAL = "exit_partial"
    COOLDOWN = "cooldown"
    ERROR = "error"
    RECOVERING = "recovering"


class Event(StrEnum):
    """What can happen to a symbol's lifecycle."""

    ENTRY_SUBMITTED = "entry_submitted"
    ENTRY_PARTIAL_FILL = "entry_partial_fill"
    ENTRY_FILLED = "entry_filled"
    # The entry order ended (cancel, reject, expiry, error) without any fill.
    ENTRY_FAILED = "entry_failed"
    # The entry order ended after a partial fill: keep what was bought.
    ENTRY_CLOSED_PARTIAL = "entry_closed_partial"
    # The entry order ended after a partial fill too small to ever sell: it becomes dust.
    ENTRY_CLOSED_DUST = "entry_closed_dust"
    EXIT_SUBMITTED = "exit_submitted"
    EXIT_PARTIAL_FILL = "exit_partial_fill"
    EXIT_FILLED = "exit_filled"
    # The exit order ended without selling everything: back in position for the rest.
    EXIT_FAILED = "exit_failed"
    COOLDOWN_OVER = "cooldown_over"
    # The coin's dust is sent to be converted on the exchange (`core.sweep`): it is sold
    # like a position, by one order, from a coin that holds nothing else.
    DUST_SUBMITTED = "dust_submitted"
    FAULT = "fault"
    RECOVER = "recover"
    RECOVERED_FLAT = "recovered_flat"
    RECOVERED_IN_POSITION = "recovered_in_position"


S, E = State, Event

TRANSITIONS: dict[tuple[State, Event], State] = {
    (S.IDLE, E.ENTRY_SUBMITTED): S.ENTRY_PENDING,
    (S.ENTRY_PENDING, E.ENTRY_PARTIAL_FILL): S.ENTRY_PARTIAL,
    (S.ENTRY_PENDING, E.ENTRY_FILLED): S.IN_POSITION,
    (S.ENTRY_PENDING, E.ENTRY_FAILED): S.IDLE,
    (S.ENTRY_PARTIAL, E.ENTRY_PARTIAL_FILL): S.ENTRY_PARTIAL,
    (S.ENTRY_PARTIAL, E.ENTRY_FILLED): S.IN_POSITION,
    (S.ENTRY_PARTIAL, E.ENTRY_CLOSED_PARTIAL): S.IN_POSITION,
    (S.ENTRY_PARTIAL, E.ENTRY_CLOSED_DUST): S.IDLE,
    (S.IN_POSITION, E.EXIT_SUBMITTED): S.EXIT_PENDING,
    (S.EXIT_PENDING, E.EXIT_PARTIAL_FILL): S.EXIT_PARTIAL,
    (S.EXIT_PENDING, E.EXIT_FILLED): S.COOLDOWN,
    (S.EXIT_PENDING, E.EXIT_FAILED): S.IN_POSITION,
    (S.EXIT_PARTIAL, E.EXIT_PARTIAL_FILL): S.EXIT_PARTIAL,
    (S.EXIT_PARTIAL, E.EXIT_FILLED): S.COOLDOWN,
    (S.EXIT_PARTIAL, E.EXIT_FAILED): S.IN_POSITION,
    (S.COOLDOWN, E.COOLDOWN_OVER): S.IDLE,
    (S.IDLE, E.DUST_SUBMITTED): S.EXIT_PENDING,
    (S.COOLDOWN, E.DUST_SUBMITTED): S.EXIT_PENDING,
    (S.ERROR, E.RECOVER): S.RECOVERING,
    (S.RECOVERING, E.RECOVERED_FLAT): S.IDLE,
    (S.RECOVERING, E.RECOVERED_IN_POSITION): S.IN_POSITION,
    (S.RECOVERING, E.FAULT): S.ERROR,
}
# A fault (an order the engine cannot explain, an exchange answer it cannot apply) can
# strike in any working state.
for _state in State:
    if _state not in (S.ERROR, S.RECOVERING):
        TRANSITIONS[(_state, E.FAULT)] = S.ERROR
del _state


class IllegalTransition(Exception):
    """An event that the current state does not accept."""

    def __init__(self, symbol: str, state: State, event: Event) -> None:
        super().__init__(f"{symbol}: event {event.value} is not allowed in state {state.value}")
        self.symbol = symbol
        self.state = state
        self.event = event


class Lifecycle:
    """The lifecycle of one symbol."""

    __slots__ = ("state", "symbol")

    def __init__(self, symbol: str, state: State = State.IDLE) -> None:
        self.symbol = symbol
        self.state = state

    def apply(self, event: Event) -> State:
        """Move to the state the table gives for (state, event); raise if there is none."""
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise IllegalTransition(self.symbol, self.state, event) from None
        return self.state
