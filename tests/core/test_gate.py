"""The entry gate: entries are paused while any source's reason is in force, and a source
lifts only its own reason."""

from __future__ import annotations

import pytest

from tradebot_tui.core.book import Status
from tradebot_tui.core.gate import CoinHold, EntryGate, Pause

COIN = "BTC/USDT"


def test_the_gate_is_open_only_with_no_reason_in_force() -> None:
    gate = EntryGate()
    assert not gate.closed and gate.blocks(COIN) is None
    assert gate.pause(Pause.JOURNAL, "disk full")
    assert gate.closed and gate.paused and gate.blocks(COIN) is Status.PAUSED
    assert not gate.pause(Pause.JOURNAL, "still full")  # in force already
    assert gate.detail(Pause.JOURNAL) == "still full"
    assert gate.release(Pause.JOURNAL) and not gate.release(Pause.JOURNAL)
    assert not gate.closed and gate.blocks(COIN) is None


def test_one_source_lifting_its_reason_leaves_the_others() -> None:
    gate = EntryGate()
    gate.pause(Pause.OWNER)
    gate.pause(Pause.JOURNAL, "disk full")
    gate.release(Pause.JOURNAL)
    assert gate.paused and dict(gate.reasons) == {Pause.OWNER: ""}
    gate.release(Pause.OWNER)
    assert not gate.closed


@pytest.mark.parametrize(
    ("reason", "shown", "reads_paused"),
    [
        (Pause.OWNER, Status.PAUSED, True),
        (Pause.KILL_SWITCH, Status.PAUSED, True),
        (Pause.JOURNAL, Status.PAUSED, True),
        (Pause.BREAKER, Status.CIRCUIT_OPEN, False),
        (Pause.QUOTE_DRIFT, Status.MISMATCH, False),
    ],
)
def test_each_reason_says_what_it_is(reason: Pause, shown: Status, reads_paused: bool) -> None:
    gate = EntryGate()
    gate.pause(reason, "why")
    assert gate.blocks(COIN) is shown and gate.closed
    assert gate.paused is reads_paused


@pytest.mark.parametrize(
    ("hold", "shown"),
    [
        (CoinHold.OWNER, Status.SYMBOL_PAUSED),
        (CoinHold.UNEXPLAINED, Status.UNEXPLAINED),
        (CoinHold.MISMATCH, Status.MISMATCH),
    ],
)
def test_a_coin_held_blocks_that_coin_only(hold: CoinHold, shown: Status) -> None:
    gate = EntryGate()
    assert gate.hold(hold, COIN, "why") and not gate.hold(hold, COIN, "again")
    assert gate.blocks(COIN) is shown and gate.blocks("ETH/USDT") is None
    assert gate.coin_held(COIN) and dict(gate.held(hold)) == {COIN: "again"}
    assert gate.unhold(hold, COIN) and not gate.unhold(hold, COIN)
    assert gate.blocks(COIN) is None and not gate.coin_held(COIN)


def test_the_order_of_what_is_shown_when_several_hold() -> None:
    """An account-wide pause first, then the coin's own pause, the breaker, an unexplained
    order, a mismatch: the watchlist names the one the trader can act on first."""
    gate = EntryGate()
    gate.hold(CoinHold.MISMATCH, COIN)
    gate.pause(Pause.QUOTE_DRIFT, "drift")
    assert gate.blocks(COIN) is Status.MISMATCH
    gate.hold(CoinHold.UNEXPLAINED, COIN)
    assert gate.blocks(COIN) is Status.UNEXPLAINED
    gate.pause(Pause.BREAKER)
    assert gate.blocks(COIN) is Status.CIRCUIT_OPEN
    gate.hold(CoinHold.OWNER, COIN)
    assert gate.blocks(COIN) is Status.SYMBOL_PAUSED
    gate.pause(Pause.KILL_SWITCH, "tripped")
    assert gate.blocks(COIN) is Status.PAUSED


def test_set_follows_a_flag_and_says_when_it_changed_something() -> None:
    gate = EntryGate()
    assert gate.set(Pause.BREAKER, True) and not gate.set(Pause.BREAKER, True)
    assert gate.set(Pause.BREAKER, False) and not gate.set(Pause.BREAKER, False)
