"""A run of the bot assembled: source, broker, journal, engine and the services off the
trading path, as the settings ask."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.display import price_decimals
from tradebot_tui.core.status import Status
from tradebot_tui.exchange.simulator import SimulatedMarket
from tradebot_tui.journal.schema import LAST_PRICES
from tradebot_tui.journal.store import Journal
from tradebot_tui.wiring.journals import open_journal
from tradebot_tui.wiring.sources import exchange_feed, simulated_market

if TYPE_CHECKING:
    from tradebot_tui.engine import Engine, WatchRow
    from tradebot_tui.exchange.base import Broker, MarketDataSource


@dataclass(slots=True)
class Bot:
    """What a run trades with; `engine()` makes its engine (the app calls it with its
    `publish` and `log_ring`, once a live run is confirmed)."""

    settings: Settings
    locations: Locations
    source: MarketDataSource
    # None: paper fills on the simulated market, made with the engine (after the app's
    # first frame: the broker's imports are those of the order book).
    broker: Broker | None
    live: bool
    new_journal: bool
    crash_after_s: float | None = None
    paper_journal: Journal | None = None

    def open_paper_journal(self) -> None:
        """Paper: open the journal (call it holding the data dir's instance lock); the
        simulated market goes on from the prices it kept."""
        if self.live:
            return
        journal = self.paper_journal = open_journal(
            self.settings, self.locations, live=False, new_journal=self.new_journal
        )
        prices = journal.meta(LAST_PRICES)
        if prices and isinstance(self.source, SimulatedMarket):
            self.source.resume_from(json.loads(prices))  # the market goes on where it was

    def preview(self) -> tuple[WatchRow, ...]:
        """The prices the simulated market opens at, one row per pair (nothing else known
        yet), for the app's first frame; empty for an exchange, whose prices come with
        its answers."""
        if not isinstance(self.source, SimulatedMarket):
            return ()
        from tradebot_tui.engine import WatchRow

        markets = self.source.markets()
        opening = self.source.opening_prices()
        rows = []
        for symbol, rules in markets.items():
            price = opening.get(symbol)
            decimals = price_decimals(rules, price)
            rows.append(WatchRow(symbol, price, None, None, None, Status.WARMING_UP, 0, decimals))
        return tuple(rows)

    def engine(self, **kwargs: Any) -> Engine:
        """The engine and its services off the trading path (imported here, after the
        app's first frame: trio and the engine are the larger part of a start)."""
        from tradebot_tui.away.health import HEALTH_FILE
        from tradebot_tui.engine import Engine
        from tradebot_tui.wiring.away import make_notifier, make_remote, plug_away

        settings, locations = self.settings, self.locations
        journal = self.paper_journal
        if self.live:  # opened only now, so that a run not confirmed leaves nothing behind
            journal = open_journal(settings, locations, live=True, new_journal=self.new_journal)
        if self.broker is None:
            from tradebot_tui.exchange.paper import PaperBroker

            self.broker = PaperBroker(settings.exchange.fee_rate)
        engine = Engine(
            settings,
            self.source,
            self.broker,
            mode="LIVE" if self.live else "PAPER",
            crash_after_s=self.crash_after_s,
            recordings=locations.recordings_dir if settings.market.record else None,
            journal=journal,
            **kwargs,
        )
        if self.live and self.broker is not None:
            from tradebot_tui.exchange.ccxt_broker import CcxtBroker

            if isinstance(self.broker, CcxtBroker) and self.broker.user_stream is not None:
                engine.add_service(self.broker.user_stream)
        plug_away(
            engine,
            notifier=make_notifier(settings, locations),
            remote=make_remote(settings, locations),
            health_file=locations.data_dir / HEALTH_FILE,  # for `tradebot-tui status`
        )
        return engine


def assemble(
    settings: Settings,
    locations: Locations,
    *,
    live: bool,
    new_journal: bool = False,
    crash_after_s: float | None = None,
) -> Bot:
    """The source and the broker of a run, everything the config asks for checked; the
    journal and the engine come later (`Bot.open_paper_journal`, `Bot.engine`).

    Raises:
        ConfigError: what the settings ask for cannot be had (a symbol, a venue, a stream).
    """
    source: MarketDataSource
    if settings.market.source == "simulated":
        source = simulated_market(settings, str(locations.config_file))
        broker: Broker | None = None  # paper fills, made with the engine
    else:
        source, broker = exchange_feed(settings, locations, live=live)
    return Bot(settings, locations, source, broker, live, new_journal, crash_after_s)
