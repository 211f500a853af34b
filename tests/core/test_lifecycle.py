"""The lifecycle table: every (state, event) pair either moves as the table says or raises."""

import itertools

import pytest

from tradebot_tui.core.lifecycle import TRANSITIONS, Event, IllegalTransition, Lifecycle, State


@pytest.mark.parametrize(("state", "event"), list(itertools.product(State, Event)))
def test_every_pair_is_total(state: State, event: Event) -> None:
    life = Lifecycle("BTC/USDT", state)
    if (state, event) in TRANSITIONS:
        assert life.apply(event) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(IllegalTransition, match=event.value):
            life.apply(event)
        assert life.state is state  # an illegal event changes nothing


def reachable(start: State) -> set[State]:
    """Every state the table can lead to from `start` (itself included)."""
    seen = {start}
    frontier = [start]
    while frontier:
        state = frontier.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src is state and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    return seen


def test_every_state_is_reachable_from_idle() -> None:
    assert reachable(State.IDLE) == set(State)


@pytest.mark.parametrize("start", list(State))
def test_every_state_can_get_back_to_idle(start: State) -> None:
    assert State.IDLE in reachable(start)


def test_round_trip() -> None:
    life = Lifecycle("ETH/USDT")
    for event in (
        Event.ENTRY_SUBMITTED,
        Event.ENTRY_FILLED,
        Event.EXIT_SUBMITTED,
        Event.EXIT_FILLED,
        Event.COOLDOWN_OVER,
    ):
        life.apply(event)
    assert life.state is State.IDLE
