"""Where prices come from and where orders go, as the settings ask: the simulated market
with paper fills, or an exchange (ccxt REST polling, Binance websocket) with paper or live
orders."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tradebot_tui.config.credentials import load_credentials
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.validate import ConfigError

if TYPE_CHECKING:
    from tradebot_tui.exchange.base import Broker, MarketDataSource
    from tradebot_tui.exchange.simulator import SimulatedMarket


def simulated_market(settings: Settings, source: str) -> SimulatedMarket:
    """The embedded simulated market the settings ask for.

    Raises:
        ConfigError: a symbol the market does not have, or two ways of choosing them.
    """
    from tradebot_tui.exchange.simulator import SimulatedMarket, UnknownSymbol, synthetic_pairs

    market = settings.market
    if market.sim_pairs and market.symbols:
        raise ConfigError(source, "market.sim_pairs", "use either market.symbols or sim_pairs")
    try:
        return SimulatedMarket(
            market.symbols,
            seed=market.seed,
            interval_ms=market.tick_interval_ms,
            warmup_ms=settings.strategy.window_s * 1000 + 60_000,
            pairs=synthetic_pairs(market.sim_pairs) if market.sim_pairs else None,
        )
    except UnknownSymbol as exc:
        raise ConfigError(source, "market.symbols", str(exc)) from None


def user_stream_wanted(name: str, rest_url: str, ws_api_url: str) -> bool:
    """Whether a live run keeps Binance's user data stream: on Binance, at the WebSocket
    API `ws_api_url` names, or at Binance's own unless REST goes elsewhere (a testnet or
    a fake serves its own stream, or none: its fills are then polled, as they are when
    the stream is down)."""
    return name == "binance" and bool(ws_api_url or not rest_url)


def exchange_feed(
    settings: Settings, locations: Locations, *, live: bool
) -> tuple[MarketDataSource, Broker]:
    """Source and broker for exchange data: ccxt REST, or the websocket of Binance, Bybit,
    OKX, Kraken or Coinbase; paper or live.

    Raises:
        ConfigError: an exchange ccxt does not know, or a stream the venue does not offer.
    """
    from tradebot_tui.exchange.base import QuoteBook
    from tradebot_tui.exchange.ccxt_broker import CcxtBroker
    from tradebot_tui.exchange.ccxt_markets import make_exchange
    from tradebot_tui.exchange.ccxt_polling import CcxtPollingSource
    from tradebot_tui.exchange.client import ExchangeClient
    from tradebot_tui.exchange.paper import QuotePaperBroker
    from tradebot_tui.exchange.resilience import CircuitBreaker, WeightBudget
    from tradebot_tui.exchange.universe import UniverseRule
    from tradebot_tui.exchange.venues import STREAMS, stream_source, venue_problem
    from tradebot_tui.exchange.ws_feed import WebsocketFeed

    ex = settings.exchange
    market = settings.market
    creds = load_credentials(ex.name, locations.secrets_file) if live else None
    try:
        exchange = make_exchange(
            ex.name,
            rest_url=ex.rest_url,
            timeout_s=ex.timeout_s,
            api_key=creds.api_key.reveal() if creds else None,
            secret=creds.api_secret.reveal() if creds else None,
        )
    except ValueError as exc:
        raise ConfigError(str(locations.config_file), "exchange.name", str(exc)) from None
    # Market data on a client of its own: a slow ticker poll never holds up an exit.
    market_data = make_exchange(ex.name, rest_url=ex.rest_url, timeout_s=ex.timeout_s)
    client = ExchangeClient(
        exchange,
        market_data=market_data,
        budget=WeightBudget(ex.weight_per_minute),
        breaker=CircuitBreaker(ex.breaker_failures, ex.breaker_open_s),
        timeout_s=ex.timeout_s,
    )
    mode = market.universe
    if mode == "auto":
        mode = "static" if market.symbols else "top_volume"
    rule = UniverseRule(
        quote=settings.budget.quote,
        mode=mode,
        symbols=market.symbols,
        top_n=market.top_n,
        include=market.include,
        exclude=market.exclude,
        allow_leveraged=market.allow_leveraged,
        allow_stablecoins=market.allow_stablecoins,
    )
    quotes = QuoteBook()
    source: CcxtPollingSource | WebsocketFeed
    if market.source == "websocket":
        if ex.name not in STREAMS:  # `wiring.checks` refuses it before a start
            problem = venue_problem(ex.name, "websocket") or ex.name
            raise ConfigError(str(locations.config_file), "market.source", problem)
        venue_source, default_url = stream_source(ex.name)  # only this venue's module
        make_source: Callable[..., WebsocketFeed] = venue_source
        source = make_source(
            client,
            rule,
            quotes,
            ws_url=ex.ws_url or default_url,
            stream=market.ws_stream,
            refresh_s=market.universe_refresh_s,
            warmup_s=settings.strategy.window_s,
        )
    else:
        source = CcxtPollingSource(
            client,
            rule,
            quotes,
            interval_s=market.poll_interval_s,
            refresh_s=market.universe_refresh_s,
            warmup_s=settings.strategy.window_s,
        )
    broker: Broker
    if live:
        pushed = None
        if user_stream_wanted(ex.name, ex.rest_url, ex.ws_api_url) and creds is not None:
            from tradebot_tui.exchange.user_stream import PushedOrders, UserStream

            pushed = PushedOrders()  # fills pushed as they happen; polled meanwhile
        broker = CcxtBroker(
            client,
            ex.fee_rate,
            rules=lambda symbol: source.markets().get(symbol),
            order_type=ex.order_type,
            settle_s=ex.settle_s,
            pushed=pushed,
        )
        if pushed is not None and creds is not None:
            broker.user_stream = UserStream(
                pushed,
                creds.api_key.reveal(),
                creds.api_secret.reveal(),
                url=ex.ws_api_url,
                server_ms=client.server_ms,
            )
    else:
        broker = QuotePaperBroker(
            ex.fee_rate,
            quotes,
            lambda symbol: source.markets().get(symbol),
            latency_s=ex.paper_latency_ms / 1000,
            slices=ex.paper_slices,
        )
    return source, broker
