"""The settings schema: defaults, descriptions, and every kind of bad value."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tradebot_tui.config.settings import SECTIONS, Settings
from tradebot_tui.config.validate import ConfigError, fields, from_dict, to_dict


def test_every_field_has_a_default_and_a_description() -> None:
    infos = fields()
    assert {i.section for i in infos} == set(SECTIONS)
    assert set(SECTIONS) >= {"strategy", "risk", "exits", "budget", "market", "exchange", "ui"}
    for info in infos:
        assert info.description.strip(), info.path
        assert "\n" not in info.description, info.path
        assert info.default is not None, info.path


def test_defaults_match_the_design() -> None:
    s = Settings()
    p = s.strategy_params()
    assert (s.strategy.anchor, s.strategy.window_s, s.strategy.trigger_pct) == ("hybrid", 3600, 2.0)
    assert (s.budget.stake, s.budget.initial) == (Decimal(100), Decimal(1000))
    assert (s.risk.max_positions, s.risk.cooldown_s) == (5, 900)
    assert (p.exits.take_profit_pct, p.exits.stop_loss_pct) == (1.5, 3.0)
    assert (p.exits.trailing_activation_pct, p.exits.trailing_distance_pct) == (1.0, 0.5)
    assert p.exits.max_hold_ms == 4 * 3_600_000
    assert p.fee_rate == Decimal("0.001")


def test_round_trip_through_dict() -> None:
    s = from_dict({"strategy": {"trigger_pct": 3}, "budget": {"stake": 25.5}}, "f.toml")
    assert s.strategy.trigger_pct == 3.0
    assert s.budget.stake == Decimal("25.5")
    assert from_dict(to_dict(s), "again") == s


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"strategy": {"trigger_pct": 150}}, "strategy.trigger_pct", "<= 90"),
        ({"strategy": {"trigger_pct": 0}}, "strategy.trigger_pct", "> 0"),
        ({"strategy": {"trigger_pct": "2"}}, "strategy.trigger_pct", "must be a number"),
        ({"strategy": {"anchor": "vwap"}}, "strategy.anchor", "one of"),
        ({"strategy": {"window": 60}}, "strategy.window", "unknown key"),
        ({"risk": {"max_positions": 2.5}}, "risk.max_positions", "integer"),
        ({"risk": {"max_positions": True}}, "risk.max_positions", "integer"),
        ({"budget": {"stake": "lots"}}, "budget.stake", "must be a number"),
        ({"budget": {"stake": 2000}}, "budget.stake", "larger than budget.initial"),
        ({"market": {"symbols": "BTC/USDT"}}, "market.symbols", "list of strings"),
        ({"market": {"symbols": ["BTCUSDT"]}}, "market.symbols[0]", "BASE/QUOTE"),
        ({"market": {"symbols": ["BTC/EUR"]}}, "market.symbols[0]", "not quoted"),
        ({"exchange": {"profile": "my bot"}}, "exchange.profile", "does not match"),
        ({"exchange": {"mode": "real"}}, "exchange.mode", "one of"),
        ({"ui": {"refresh_hz": 60}}, "ui.refresh_hz", "<= 10"),
        ({"strategies": {}}, "strategies", "unknown section"),
        ({"strategy": 3}, "strategy", "must be a table"),
    ],
)
def test_bad_values_name_file_and_key(data: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(data, "/x/config.toml")
    assert info.value.key == key
    assert words in info.value.message
    assert str(info.value).startswith(f"/x/config.toml: {key}: ")


def test_diff_and_changed_sections_name_what_differs() -> None:
    from dataclasses import replace

    from tradebot_tui.config.settings import Settings
    from tradebot_tui.config.validate import changed_sections, diff

    old = Settings()
    new = replace(
        old,
        strategy=replace(old.strategy, trigger_pct=3.0),
        ui=replace(old.ui, theme="amber"),
    )
    assert diff(old, new) == [
        ("strategy.trigger_pct", 2.0, 3.0),
        ("ui.theme", "midnight", "amber"),
    ]
    assert changed_sections(old, new) == ["strategy", "ui"]
    assert diff(old, old) == [] and changed_sections(old, old) == []
