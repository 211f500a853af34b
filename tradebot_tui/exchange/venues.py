"""What each venue offers, in one table: its websocket market-data source (a module of
this package, imported only when that venue is used), the hosts of its own addresses, and
whether live trading follows its rules; and the problems a configuration asking for more
than that has (`wiring.checks` reports them for `config check` and the start alike)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from tradebot_tui.exchange.ws_feed import WebsocketFeed

# A venue's websocket source class and its default address, imported when asked for.
Loader = Callable[[], "tuple[type[WebsocketFeed], str]"]


def _binance() -> tuple[type[WebsocketFeed], str]:
    from tradebot_tui.exchange.binance_ws import DEFAULT_URL, BinanceWebsocketSource

    return BinanceWebsocketSource, DEFAULT_URL


def _bybit() -> tuple[type[WebsocketFeed], str]:
    from tradebot_tui.exchange.bybit_ws import DEFAULT_URL, BybitWebsocketSource

    return BybitWebsocketSource, DEFAULT_URL


def _okx() -> tuple[type[WebsocketFeed], str]:
    from tradebot_tui.exchange.okx_ws import DEFAULT_URL, OkxWebsocketSource

    return OkxWebsocketSource, DEFAULT_URL


def _kraken() -> tuple[type[WebsocketFeed], str]:
    from tradebot_tui.exchange.kraken_ws import DEFAULT_URL, KrakenWebsocketSource

    return KrakenWebsocketSource, DEFAULT_URL


def _coinbase() -> tuple[type[WebsocketFeed], str]:
    from tradebot_tui.exchange.coinbase_ws import DEFAULT_URL, CoinbaseWebsocketSource

    return CoinbaseWebsocketSource, DEFAULT_URL


@dataclass(frozen=True, slots=True)
class StreamVenue:
    """A venue with a websocket source of ours."""

    title: str  # as the venue writes its name
    load: Loader  # its source class and default address (the module imported then)
    hosts: tuple[str, ...]  # its own addresses (live and test) end with one of these
    all_market: bool = False  # it offers an all-market stream (`allMiniTickers`)


STREAMS: dict[str, StreamVenue] = {
    "binance": StreamVenue("Binance", _binance, ("binance.com", "binance.vision"), True),
    "bybit": StreamVenue("Bybit", _bybit, ("bybit.com",)),
    "okx": StreamVenue("OKX", _okx, ("okx.com",)),
    "kraken": StreamVenue("Kraken", _kraken, ("kraken.com",)),
    "coinbase": StreamVenue("Coinbase", _coinbase, ("coinbase.com",)),
}

# Venues whose order rules (client ids, order lookup after a lost answer, recovery) the
# live broker follows as their documentation describes them; elsewhere: paper only.
LIVE_VENUES = frozenset({"binance"})


def stream_source(name: str) -> tuple[type[WebsocketFeed], str]:
    """The websocket source class of venue `name` and its default address (only that
    venue's module is imported)."""
    return STREAMS[name].load()


def venue_problem(name: str, source: str) -> str | None:
    """Why `market.source = source` cannot be had on exchange `name` (None: it can)."""
    import ccxt

    if name not in ccxt.exchanges:
        return f"ccxt has no exchange {name!r}"
    if source == "websocket" and name not in STREAMS:
        titles = [f"{v.title}'s" for v in STREAMS.values()]
        return (
            f"websocket streams are {', '.join(titles[:-1])} and {titles[-1]}; "
            f"exchange.name is {name!r} (use ccxt)"
        )
    return None


def stream_problem(name: str, stream: str) -> str | None:
    """Why `market.ws_stream = stream` cannot be read on venue `name` (None: it can)."""
    venue = STREAMS.get(name)
    if venue is not None and stream == "allMiniTickers" and not venue.all_market:
        return f"{venue.title} has no all-market stream: use auto, bookTicker or miniTicker"
    return None


def ws_url_problem(name: str, url: str) -> str | None:
    """Why `exchange.ws_url = url` cannot be `name`'s stream: it is another venue's."""
    host = urlsplit(url).hostname or ""
    for other, venue in STREAMS.items():
        if other != name and any(host == h or host.endswith("." + h) for h in venue.hosts):
            return (
                f"{url} is {venue.title}'s stream, but exchange.name is {name!r} "
                "(leave exchange.ws_url empty for the venue's own)"
            )
    return None


def live_problem(name: str) -> str | None:
    """Why live trading is refused on exchange `name` (None: it is not)."""
    if name in LIVE_VENUES:
        return None
    return (
        f"live trading follows Binance's documented order rules (client ids, order lookup, "
        f"recovery); exchange.name is {name!r}: paper trading only there"
    )
