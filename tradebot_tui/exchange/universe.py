"""Which symbols to watch: a static list, or the top N by 24-hour quote volume."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Leveraged tokens (BTCUP, ETHDOWN, XRPBULL, LINKBEAR, BTC3L, ETH5S...).
_LEVERAGED = re.compile(r"^[A-Z0-9]+?(UP|DOWN|BULL|BEAR|[1-9][LS])$")
STABLECOINS = frozenset(
    {
        "USDT",
        "USDC",
        "BUSD",
        "TUSD",
        "FDUSD",
        "USDP",
        "DAI",
        "PAX",
        "USDD",
        "PYUSD",
        "UST",
        "EUR",
        "EURI",
        "AEUR",
        "GBP",
        "TRY",
        "BRL",
        "USD1",
        "USDE",
        "XUSD",
        "BFUSD",
        "RLUSD",
    }
)


@dataclass(frozen=True, slots=True)
class UniverseRule:
    """How the watched symbols are chosen (mirrors the `market` settings)."""

    quote: str
    mode: str = "static"  # static | top_volume
    symbols: tuple[str, ...] = ()
    top_n: int = 20
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    allow_leveraged: bool = False
    allow_stablecoins: bool = False


def is_leveraged(base: str) -> bool:
    return bool(_LEVERAGED.match(base)) and base not in {"JUP", "SUP", "POP"}


def eligible(symbol: str, market: Mapping[str, Any], rule: UniverseRule) -> bool:
    base, _, quote = symbol.partition("/")
    if quote != rule.quote or not market.get("spot", True) or market.get("active") is False:
        return False
    if not rule.allow_leveraged and is_leveraged(base):
        return False
    return rule.allow_stablecoins or base not in STABLECOINS


def select(
    rule: UniverseRule,
    markets: Mapping[str, Mapping[str, Any]],
    tickers: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """The symbols to watch, in display order.

    Static: `symbols` as given (unknown ones dropped). Top volume: the `top_n` eligible,
    not excluded symbols by 24h quote volume, highest first. Then `include` is added (when
    the market exists) and `exclude` removed, in both modes.
    """
    excluded = set(rule.exclude)
    if rule.mode == "static":
        chosen = [s for s in rule.symbols if s in markets]
    else:
        volumes = []
        for symbol, ticker in (tickers or {}).items():
            market = markets.get(symbol)
            if market is None or symbol in excluded or not eligible(symbol, market, rule):
                continue
            volume = ticker.get("quoteVolume")
            if volume is None:
                continue
            volumes.append((-float(volume), symbol))
        chosen = [s for _, s in sorted(volumes)[: rule.top_n]]
    for symbol in rule.include:
        if symbol in markets and symbol not in chosen:
            chosen.append(symbol)
    return [s for s in chosen if s not in excluded]


def unknown_symbols(wanted: Iterable[str], markets: Mapping[str, Any]) -> list[str]:
    return [s for s in wanted if s not in markets]
