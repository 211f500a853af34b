"""Market rules and client order ids."""

import re
from decimal import Decimal as D

import pytest

from tradebot_tui.core.identity import client_id_prefix, client_id_seq, client_order_id
from tradebot_tui.core.market import MarketRules, replay_rules, split_symbol


def test_entry_quantity_rounds_down_to_the_step() -> None:
    rules = MarketRules("BTC/USDT", qty_step=D("0.00001"), price_tick=D("0.01"))
    assert rules.entry_qty(D(100), D("78123.45")) == D("0.00128")
    assert replay_rules("X/USDT").entry_qty(D(100), D(3)) == D("33.33333333")


def test_minimums() -> None:
    rules = MarketRules(
        "DOGE/USDT", qty_step=D(1), price_tick=D("0.00001"), min_qty=D(1), min_notional=D(5)
    )
    assert rules.below_minimum(D(0), D("0.1")) == "amount rounds to zero"
    assert "notional" in (rules.below_minimum(D(40), D("0.1")) or "")
    assert rules.below_minimum(D(60), D("0.1")) is None


def test_replay_rules_name_their_symbol_and_hold_nothing_back() -> None:
    rules = replay_rules("X/USDT")
    assert (rules.symbol, rules.base, rules.quote) == ("X/USDT", "X", "USDT")
    assert rules.qty_step == D("0.00000001") and rules.price_tick is None
    assert rules.min_qty == 0 and rules.min_notional == 0


def test_price_rounding() -> None:
    assert MarketRules("A/B", price_tick=D("0.05")).round_price(D("1.234")) == D("1.20")
    assert replay_rules("A/B").round_price(D("1.234")) == D("1.234")


def test_split_symbol() -> None:
    assert split_symbol("BTC/USDT") == ("BTC", "USDT")
    for bad in ("BTCUSDT", "/USDT", "BTC/", "A/B/C"):
        with pytest.raises(ValueError, match="BASE/QUOTE"):
            split_symbol(bad)


def test_client_order_ids_carry_the_journal_identity_and_are_binance_safe() -> None:
    prefix = client_id_prefix("paper", "k3j9x2ab")
    assert client_order_id(prefix, 12) == "tb-paper-k3j9x2ab-12"
    # The longest: a 10-letter profile, an 8-character identity, a 13-digit sequence.
    longest = client_order_id(client_id_prefix("abcdefghij", "zzzzzzzz"), 10**13 - 1)
    assert len(longest) == 36 and re.fullmatch(r"[A-Za-z0-9_-]{1,36}", longest)
    with pytest.raises(ValueError, match="36 characters"):
        client_order_id(client_id_prefix("abcdefghij", "zzzzzzzz"), 10**13)
    with pytest.raises(ValueError, match="profile"):
        client_id_prefix("bad-name", "k3j9x2ab")
    with pytest.raises(ValueError, match="identity"):
        client_id_prefix("paper", "BTCUSDT")
    assert client_id_prefix("paper") == "tb-paper-"
    assert client_id_seq("tb-paper-k3j9x2ab-12") == 12
    assert client_id_seq("tb-paper-BTCUSDT-7") == 7  # ids of journals before identities


def test_an_order_at_exactly_the_minimums_may_be_sent_and_one_step_less_may_not() -> None:
    rules = MarketRules("X/USDT", qty_step=D("0.001"), min_qty=D("0.5"), min_notional=D(5))
    assert rules.below_minimum(D("0.5"), D(10)) is None  # 0.5 x 10 = 5: both exactly
    assert rules.below_minimum(D("0.499"), D(20)) == "amount 0.499 below the minimum 0.5"
    assert rules.below_minimum(D("0.625"), D(8)) is None  # notional 5.000 exactly
    assert rules.below_minimum(D("0.624"), D(8)) == "notional 4.992 below the minimum 5"
