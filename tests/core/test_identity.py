"""Client order ids: unique for the account forever, the sequence only growing."""

from __future__ import annotations

import pytest

from tradebot_tui.core.identity import (
    OrderIds,
    client_id_prefix,
    client_id_seq,
    client_order_id,
)


def test_ids_count_from_one_and_never_repeat() -> None:
    ids = OrderIds("tb-paper-k3j9-")
    assert [ids.next(), ids.next(), ids.next()] == [
        "tb-paper-k3j9-1",
        "tb-paper-k3j9-2",
        "tb-paper-k3j9-3",
    ]
    assert ids.next_seq == 4
    assert OrderIds("p-", next_seq=7).next() == "p-7"


def test_an_id_the_journal_holds_moves_the_sequence_past_it() -> None:
    ids = OrderIds("tb-paper-k3j9-")
    ids.seen("tb-paper-k3j9-41")
    assert ids.next_seq == 42
    ids.seen("tb-paper-k3j9-7")  # an older one: the sequence never goes back
    assert ids.next_seq == 42
    ids.seen("tb-paper-k3j9-42")
    assert ids.next() == "tb-paper-k3j9-43"


@pytest.mark.parametrize(
    "other",
    ["tb-paper-other-99", "tb-live-k3j9-99", "tb-paper-k3j9-x", "manual-order"],
    ids=["another journal", "another profile", "no sequence", "not ours"],
)
def test_an_id_that_is_not_this_traders_leaves_the_sequence_alone(other: str) -> None:
    ids = OrderIds("tb-paper-k3j9-", next_seq=5)
    ids.seen(other)
    assert ids.next_seq == 5


def test_the_sequence_is_the_last_dash_separated_part() -> None:
    assert client_id_seq("tb-paper-k3j9-17") == 17
    assert client_id_seq("tb-paper-k3j9-x") is None
    assert client_id_seq("17") == 17


def test_prefixes_and_ids_keep_to_binances_rules() -> None:
    assert client_id_prefix("paper") == "tb-paper-"
    assert client_id_prefix("paper", "k3j9") == "tb-paper-k3j9-"
    with pytest.raises(ValueError, match="profile 'pa-per' must be 1-10 letters or digits"):
        client_id_prefix("pa-per")
    with pytest.raises(ValueError, match="journal identity 'K3' must be 3-8 lowercase"):
        client_id_prefix("paper", "K3")
    longest = client_order_id(client_id_prefix("abcdefghij", "abcdefgh"), 10**9)
    assert len(longest) == 33
    with pytest.raises(ValueError, match="longer than 36 characters"):
        client_order_id("tb-abcdefghij-abcdefgh-", 10**13)
