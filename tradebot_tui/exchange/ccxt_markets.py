"""Creating ccxt clients and reading market rules from them (ccxt is imported here only)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import ZERO, dec

# Venues with a websocket market-data source of ours.
STREAMING_VENUES = ("binance", "bybit", "okx", "kraken", "coinbase")


# Venues whose order rules (client ids, order lookup after a lost answer, recovery) the
# live broker follows as their documentation describes them; elsewhere: paper only.
LIVE_VENUES = frozenset({"binance"})


def live_problem(name: str) -> str | None:
    """Why live trading is refused on exchange `name` (None: it is not)."""
    if name in LIVE_VENUES:
        return None
    return (
        f"live trading follows Binance's documented order rules (client ids, order lookup, "
        f"recovery); exchange.name is {name!r}: paper trading only there"
    )


def venue_problem(name: str, source: str) -> str | None:
    """Why `market.source = source` cannot be had on exchange `name` (None: it can)."""
    import ccxt

    if name not in ccxt.exchanges:
        return f"ccxt has no exchange {name!r}"
    if source == "websocket" and name not in STREAMING_VENUES:
        return (
            "websocket streams are Binance's, Bybit's, OKX's, Kraken's and Coinbase's; "
            f"exchange.name is {name!r} "
            "(use ccxt)"
        )
    return None


# A host part that names each streaming venue's own addresses (live and test).
VENUE_HOSTS = {
    "binance": ("binance.com", "binance.vision"),
    "bybit": ("bybit.com",),
    "okx": ("okx.com",),
    "kraken": ("kraken.com",),
    "coinbase": ("coinbase.com",),
}
VENUE_NAMES = {
    "binance": "Binance",
    "bybit": "Bybit",
    "okx": "OKX",
    "kraken": "Kraken",
    "coinbase": "Coinbase",
}


def ws_url_problem(name: str, url: str) -> str | None:
    """Why `exchange.ws_url = url` cannot be `name`'s stream: it is another venue's."""
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    for venue, parts in VENUE_HOSTS.items():
        if venue != name and any(host == p or host.endswith("." + p) for p in parts):
            return (
                f"{url} is {VENUE_NAMES[venue]}'s stream, but exchange.name is {name!r} "
                "(leave exchange.ws_url empty for the venue's own)"
            )
    return None


def stream_problem(name: str, stream: str) -> str | None:
    """Why `market.ws_stream = stream` cannot be read on venue `name` (None: it can)."""
    if name in VENUE_NAMES and name != "binance" and stream == "allMiniTickers":
        venue = VENUE_NAMES[name]
        return f"{venue} has no all-market stream: use auto, bookTicker or miniTicker"
    return None


def make_exchange(
    name: str,
    *,
    rest_url: str = "",
    timeout_s: float = 10.0,
    api_key: str | None = None,
    secret: str | None = None,
) -> Any:
    """A sync ccxt client for spot trading, with our own rate limiting.

    `rest_url` points every REST API of the client at another host (a fake exchange or
    a testnet): all entries of `urls['api']` are rewritten, so that no call can reach the
    real host (with keys set, ccxt may call margin endpoints there otherwise).
    """
    import ccxt

    try:
        cls = getattr(ccxt, name)
    except AttributeError:
        raise ValueError(f"ccxt has no exchange {name!r}") from None
    config: dict[str, Any] = {
        "enableRateLimit": False,  # one shared request-weight budget does this
        "timeout": int(timeout_s * 1000),
        "options": {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "adjustForTimeDifference": False,
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        },
    }
    if api_key:
        config["apiKey"] = api_key
        config["secret"] = secret or ""
    exchange = cls(config)
    if rest_url:
        exchange.urls["api"] = _rewrite(exchange.urls["api"], rest_url.rstrip("/"))
    return exchange


def _rewrite(api: Any, base: str) -> Any:
    from urllib.parse import urlsplit

    if isinstance(api, dict):
        return {k: _rewrite(v, base) for k, v in api.items()}
    if isinstance(api, str):
        return base + urlsplit(api).path
    return api


def market_rules(market: dict[str, Any]) -> MarketRules:
    """Our rules from one ccxt market (precision in TICK_SIZE mode, as binance reports)."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    step = _decimal(precision.get("amount")) or Decimal("0.00000001")
    tick = _decimal(precision.get("price"))
    return MarketRules(
        symbol=market["symbol"],
        qty_step=step,
        price_tick=tick,
        min_qty=_decimal((limits.get("amount") or {}).get("min")) or ZERO,
        min_notional=_decimal((limits.get("cost") or {}).get("min")) or ZERO,
    )


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return dec(value if not isinstance(value, int) else str(value))
