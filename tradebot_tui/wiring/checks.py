"""What a start would refuse in a configuration: one list, for `config check` and for the
start itself, so that the two never disagree (each problem named by file and key, in the
same words)."""

from __future__ import annotations

from tradebot_tui.config.credentials import KEY_ENV, SECRET_ENV, SecretsError, load_credentials
from tradebot_tui.config.locations import Locations
from tradebot_tui.config.settings import Settings
from tradebot_tui.config.validate import ConfigError, raise_all


def run_problems(settings: Settings, locations: Locations) -> list[ConfigError]:
    """Everything about the settings (and, for live trading, the keys) that would keep a
    run from starting, whatever the command line adds."""
    source = str(locations.config_file)
    market, exchange = settings.market, settings.exchange
    errors: list[ConfigError] = []
    if market.source == "simulated":
        from tradebot_tui.exchange.simulator import PAIRS_BY_SYMBOL

        if market.sim_pairs and market.symbols:
            errors.append(
                ConfigError(source, "market.sim_pairs", "use either market.symbols or sim_pairs")
            )
        unknown = [s for s in market.symbols if s not in PAIRS_BY_SYMBOL]
        if unknown:
            errors.append(
                ConfigError(
                    source,
                    "market.symbols",
                    f"not simulated: {', '.join(unknown)} "
                    f"(simulated pairs: {', '.join(PAIRS_BY_SYMBOL)})",
                )
            )
        if exchange.mode == "live":
            errors.append(
                ConfigError(
                    source,
                    "market.source",
                    "live trading needs exchange data: set market.source to ccxt or websocket",
                )
            )
    else:
        from tradebot_tui.exchange.venues import (
            live_problem,
            stream_problem,
            venue_problem,
            ws_url_problem,
        )

        problem = venue_problem(exchange.name, market.source)
        if problem is not None:
            key = "exchange.name" if problem.startswith("ccxt has no") else "market.source"
            errors.append(ConfigError(source, key, problem))
        else:  # a venue ccxt knows, with a source it offers: its stream, and live trading
            if market.source == "websocket":
                if problem := stream_problem(exchange.name, market.ws_stream):
                    errors.append(ConfigError(source, "market.ws_stream", problem))
                if exchange.ws_url and (problem := ws_url_problem(exchange.name, exchange.ws_url)):
                    errors.append(ConfigError(source, "exchange.ws_url", problem))
            if exchange.mode == "live" and (problem := live_problem(exchange.name)):
                errors.append(ConfigError(source, "exchange.name", problem))
    if exchange.mode == "live":
        try:
            creds = load_credentials(exchange.name, locations.secrets_file)
        except SecretsError as exc:
            errors.append(ConfigError(str(locations.secrets_file), None, str(exc)))
        else:
            if creds is None:
                errors.append(
                    ConfigError(
                        source,
                        "exchange.mode",
                        f"live trading needs API keys: set {KEY_ENV} and {SECRET_ENV} or "
                        f"write {locations.secrets_file} (readable by you only)",
                    )
                )
    return errors


def check_run(settings: Settings, locations: Locations) -> None:
    """Raise what `run_problems` finds: ConfigError, or ConfigErrors for several."""
    raise_all(run_problems(settings, locations))
