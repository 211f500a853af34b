"""Market rules and client order ids."""

from decimal import Decimal as D

import pytest

from tradebot_tui.core.market import MarketRules, replay_rules, split_symbol
from tradebot_tui.core.orders import client_order_id


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


def test_price_rounding() -> None:
    assert MarketRules("A/B", price_tick=D("0.05")).round_price(D("1.234")) == D("1.20")
    assert replay_rules("A/B").round_price(D("1.234")) == D("1.234")


def test_split_symbol() -> None:
    assert split_symbol("BTC/USDT") == ("BTC", "USDT")
    for bad in ("BTCUSDT", "/USDT", "BTC/", "A/B/C"):
        with pytest.raises(ValueError, match="BASE/QUOTE"):
            split_symbol(bad)


def test_client_order_ids_are_deterministic_and_binance_safe() -> None:
    assert client_order_id("paper", "BTC/USDT", 12) == "tb-paper-BTCUSDT-12"
    longest = client_order_id("abcdefghij", "1000SATS/USDT", 99_999_999)
    assert len(longest) <= 36
    with pytest.raises(ValueError, match="profile"):
        client_order_id("bad-name", "BTC/USDT", 1)
