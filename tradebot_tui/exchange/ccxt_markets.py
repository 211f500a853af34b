"""Creating ccxt clients and reading market rules from them (ccxt is imported here only)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import ZERO, dec


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
