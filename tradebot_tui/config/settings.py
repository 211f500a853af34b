"""The typed settings: every section and field, its default, help text and allowed range.

Every field is declared with `setting(...)`, which carries its default, a one-line
description (shown as help in the config screen and as a comment by `config init`) and
its allowed range or choices. Sections are frozen dataclasses. `config.validate` checks
raw TOML against them; the core's parameter defaults are these (a test proves it).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from tradebot_tui.core.anchors import AnchorMode
from tradebot_tui.core.exits import ExitParams
from tradebot_tui.core.identity import PROFILE_RE
from tradebot_tui.core.params import StrategyParams


def setting(
    default: Any,
    description: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    unit: str = "",
    pattern: str | None = None,
) -> Any:
    """Declare one settings field (default, help text, range)."""
    meta = {"description": description, "ge": ge, "gt": gt, "le": le, "unit": unit}
    meta["pattern"] = pattern
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class StrategySettings:
    """When to buy."""

    anchor: Literal["hybrid", "rolling_high", "session_open", "last_exit"] = setting(
        "hybrid",
        "Price a drop is measured from: hybrid, rolling_high, session_open or last_exit.",
    )
    window_s: int = setting(
        3600,
        "Length of the rolling-high window, and the warm-up before the first entry.",
        ge=60,
        le=7 * 86400,
        unit="s",
    )
    trigger_pct: float = setting(
        2.0, "Buy when the price is this far below the anchor.", gt=0, le=90, unit="%"
    )


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """Limits on how much is at risk. Protections pause entries only, never exits."""

    max_positions: int = setting(
        5, "Most positions (and pending entries) open at once.", ge=1, le=500
    )
    cooldown_s: int = setting(
        900,
        "After an exit, wait this long before buying the same symbol again.",
        ge=0,
        le=7 * 86400,
        unit="s",
    )
    daily_loss_limit_pct: float = setting(
        0.0,
        "Pause entries for the rest of the UTC day once closed trades lost this much "
        "of the day's starting equity; 0 turns it off.",
        ge=0,
        le=100,
        unit="%",
    )
    max_drawdown_pct: float = setting(
        0.0,
        "Pause entries while closed-trade equity is this far below its peak (resuming "
        "resets the peak); 0 turns it off.",
        ge=0,
        le=100,
        unit="%",
    )
    kill_switch_pct: float = setting(
        0.0,
        "Kill switch: once equity is this far below the budget (or below the equity at "
        "the last re-arm), sell every position at market, stop entries and notify; "
        "resuming entries re-arms it. 0 turns it off.",
        ge=0,
        le=100,
        unit="%",
    )
    stale_after_s: int = setting(
        60,
        "A symbol without a price for this long is stale and is not bought; 0 turns it off.",
        ge=0,
        le=86400,
        unit="s",
    )


@dataclass(frozen=True, slots=True)
class ExitSettings:
    """When to sell."""

    take_profit_pct: float = setting(
        1.5, "Sell when the price is this far above the entry.", gt=0, le=1000, unit="%"
    )
    stop_loss_pct: float = setting(
        3.0, "Sell when the price is this far below the entry.", gt=0, le=99, unit="%"
    )
    trailing_activation_pct: float = setting(
        1.0,
        "The trailing stop arms once the price is this far above the entry.",
        gt=0,
        le=1000,
        unit="%",
    )
    trailing_distance_pct: float = setting(
        0.5,
        "Once armed, sell when the price falls this far below its peak.",
        gt=0,
        le=99,
        unit="%",
    )
    max_hold_s: int = setting(
        4 * 3600,
        "Sell a position held this long, whatever its price.",
        ge=60,
        le=365 * 86400,
        unit="s",
    )
    on_exchange: bool = setting(
        False,
        "Rest take-profit and stop-loss on the exchange as an OCO order list: they "
        "outlive the bot.",
    )
    stop_limit_gap_pct: float = setting(
        1.0,
        "With on_exchange: the stop leg's limit, this far below its stop price.",
        gt=0,
        le=50,
        unit="%",
    )


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    """How much to trade with."""

    quote: str = setting(
        "USDT",
        "Quote currency traded against (symbols are BASE/QUOTE).",
        pattern=r"^[A-Z0-9]{2,10}$",
    )
    initial: Decimal = setting(
        Decimal(1000), "Paper trading starting balance in the quote currency.", gt=0, le=1e12
    )
    stake: Decimal = setting(Decimal(100), "Quote amount spent on each entry.", gt=0, le=1e12)
    sweep_dust_daily: bool = setting(
        False,
        "Once a day, convert the dust the bot holds to BNB (Binance's small-asset "
        "conversion; paper models it).",
    )


@dataclass(frozen=True, slots=True)
class MarketSettings:
    """Where prices come from."""

    source: Literal["simulated", "ccxt", "websocket"] = setting(
        "simulated",
        "Market data: simulated (embedded, no network), ccxt (REST polling of "
        "exchange.name) or websocket (Binance streams).",
    )
    symbols: tuple[str, ...] = setting(
        (),
        'Symbols to watch, e.g. ["BTC/USDT"]; empty means every simulated pair '
        "(simulated) or the top coins by volume (exchanges).",
    )
    universe: Literal["auto", "static", "top_volume"] = setting(
        "auto",
        "static: market.symbols; top_volume: the top_n coins by 24h quote volume; "
        "auto: static when symbols are listed, else top_volume.",
    )
    top_n: int = setting(20, "How many coins top_volume watches.", ge=1, le=1000)
    include: tuple[str, ...] = setting((), "Symbols always watched, whatever the volume.")
    exclude: tuple[str, ...] = setting((), "Symbols never watched.")
    allow_leveraged: bool = setting(
        False, "Allow leveraged tokens (BTCUP, ETHDOWN...) in top_volume."
    )
    allow_stablecoins: bool = setting(False, "Allow stablecoin pairs (USDC/USDT...) in top_volume.")
    universe_refresh_s: int = setting(
        3600, "How often the universe is chosen again.", ge=60, le=7 * 86400, unit="s"
    )
    poll_interval_s: float = setting(
        2.0, "Time between two ticker polls (source = ccxt).", ge=0.2, le=3600, unit="s"
    )
    ws_stream: Literal["auto", "bookTicker", "miniTicker", "allMiniTickers"] = setting(
        "auto",
        "Websocket stream: bookTicker (best bid/ask, mid price, one stream per coin; "
        "Bybit's orderbook.1, OKX's bbo-tbt, Kraken's ticker on bbo, Coinbase's ticker "
        "quotes), miniTicker (last price, one per coin; Bybit's and OKX's tickers, Kraken's "
        "ticker on trades, Coinbase's ticker price), "
        "allMiniTickers (Binance only: last prices of the whole market once a second, one "
        "stream) or auto: on Binance bookTicker up to 40 coins, else allMiniTickers; "
        "elsewhere bookTicker.",
    )
    record: bool = setting(
        False, "Record every tick to compressed files in the data dir (replayable)."
    )
    seed: int = setting(
        8, "Seed of the simulated market: the same seed gives the same prices.", ge=0
    )
    tick_interval_ms: int = setting(
        250, "Time between two simulated price updates.", ge=10, le=60_000, unit="ms"
    )
    sim_pairs: int = setting(
        0,
        "Simulated pairs: 0 for the twenty embedded ones; more adds synthetic pairs "
        "(SIM001/USDT...) to try the app at scale.",
        ge=0,
        le=5000,
    )


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    """Which exchange and how orders are handled."""

    name: str = setting("binance", "Exchange id (a ccxt id).", pattern=r"^[a-z0-9]{2,32}$")
    mode: Literal["paper", "live"] = setting(
        "paper", "paper simulates fills; live places real orders (also needs --live)."
    )
    profile: str = setting(
        "paper",
        "Name of this bot instance, used in client order ids (letters, digits).",
        pattern=PROFILE_RE.pattern,
    )
    fee_pct: float = setting(
        0.1,
        "Trading fee charged on each fill, in percent of its value.",
        ge=0,
        le=5,
        unit="%",
    )
    shutdown_policy: Literal["leave_open", "cancel_entries"] = setting(
        "leave_open", "On quit: leave open orders, or cancel open entry orders."
    )
    shutdown_grace_s: float = setting(
        5.0,
        "On quit, how long orders in flight are followed to their end (live).",
        ge=0,
        le=120,
        unit="s",
    )
    reconcile_s: float = setting(
        60.0,
        "How often balances and open orders are compared with the exchange (live).",
        ge=5,
        le=86400,
        unit="s",
    )
    reconcile_tolerance_pct: float = setting(
        0.5,
        "A holding (or the quote balance, as a share of the budget) may differ from the "
        "exchange's by this much before entries stop.",
        ge=0,
        le=100,
        unit="%",
    )
    settle_s: float = setting(
        30.0,
        "An order whose answer was lost is looked up by its id this long (the exchange's "
        "order query lags), then among the account's orders; never sent again meanwhile.",
        ge=1,
        le=600,
        unit="s",
    )
    order_type: Literal["market", "limit"] = setting(
        "market", "Live orders: market, or limit at the tick price (GTC)."
    )
    rest_url: str = setting(
        "",
        "Send every REST call here instead of the exchange (a testnet or a fake); "
        "empty: the exchange itself.",
        pattern=r"^$|^https?://[^\s]+$",
    )
    ws_url: str = setting(
        "",
        "Websocket URL of the market streams; empty: the venue's own (Binance "
        "wss://stream.binance.com:9443, Bybit wss://stream.bybit.com/v5/public/spot, OKX "
        "wss://ws.okx.com:8443/ws/v5/public, Kraken wss://ws.kraken.com/v2, Coinbase "
        "wss://advanced-trade-ws.coinbase.com).",
        pattern=r"^(wss?://[^\s]+)?$",
    )
    ws_api_url: str = setting(
        "",
        "Live on Binance: the WebSocket API the user data stream (fills pushed as they "
        "happen) subscribes on; empty: Binance's wss://ws-api.binance.com:443/ws-api/v3, "
        "or none when exchange.rest_url points elsewhere (its fills are then polled).",
        pattern=r"^(wss?://[^\s]+)?$",
    )
    timeout_s: float = setting(10.0, "Deadline of one exchange call.", gt=0, le=120, unit="s")
    weight_per_minute: int = setting(
        3000,
        "Request weight spent per minute at most, shared by every call (Binance allows 6000).",
        ge=10,
        le=100_000,
    )
    breaker_failures: int = setting(
        5, "Failures in a row that open the circuit breaker.", ge=1, le=1000
    )
    breaker_open_s: float = setting(
        30.0, "How long an open breaker pauses entries and polling.", ge=1, le=3600, unit="s"
    )
    paper_latency_ms: int = setting(
        0, "Paper on exchange data: delay before a fill.", ge=0, le=60_000, unit="ms"
    )
    paper_slices: int = setting(
        1, "Paper on exchange data: fill each order in this many parts.", ge=1, le=100
    )

    @property
    def fee_rate(self) -> Decimal:
        """`fee_pct` as an exact fraction: 0.1 % -> Decimal("0.001")."""
        return Decimal(repr(self.fee_pct)) / 100


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """What is sent to your phone. The Apprise URLs (they carry tokens) live in the secrets
    file's [notify] table or TRADEBOT_NOTIFY_URLS, never here."""

    fills: bool = setting(True, "Notify fills and exits (with their PnL).")
    errors: bool = setting(True, "Notify rejected or failed orders and unexplained orders.")
    breaker: bool = setting(True, "Notify when the circuit breaker opens and closes.")
    mismatch: bool = setting(True, "Notify when the balance stops matching the ledger.")
    engine: bool = setting(True, "Notify when the engine stops or crashes.")
    alerts: bool = setting(
        True, "Notify alerts: drift, failing side jobs, file descriptors, memory growth."
    )
    daily_at: str = setting(
        "00:00",
        "Send a daily summary at this UTC time (HH:MM); empty turns it off.",
        pattern=r"^$|^([01][0-9]|2[0-3]):[0-5][0-9]$",
    )
    heartbeat_min: int = setting(
        0, "Send an 'alive' message this often; 0 turns it off.", ge=0, le=10080, unit="min"
    )
    coalesce_s: float = setting(
        10.0, "Events this close together go out as one message.", ge=0, le=3600, unit="s"
    )
    max_per_hour: int = setting(
        30, "Messages sent per hour at most (more events wait and are merged).", ge=1, le=3600
    )
    timeout_s: float = setting(
        15.0,
        "Deadline of one send; a late or failing service is retried.",
        gt=0,
        le=300,
        unit="s",
    )


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """Remote control from Telegram. The bot token and the chat ids allowed live in the
    secrets file's [telegram] table (or the environment), never here."""

    api_url: str = setting(
        "https://api.telegram.org",
        "Base URL of the Telegram Bot API (a local Bot API server or a fake for tests).",
        pattern=r"^https?://[^\s]+$",
    )
    poll_s: int = setting(25, "Long-polling wait of one getUpdates call.", ge=0, le=50, unit="s")
    confirm_s: int = setting(
        60, "An /exit or /exitall waits this long for its /yes.", ge=5, le=600, unit="s"
    )


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """Watching the bot from afar: heartbeat, alert thresholds, metrics endpoint."""

    heartbeat_log_min: int = setting(
        15,
        "Write a heartbeat line (state, equity, positions, feed) to the log this often; "
        "0 turns it off.",
        ge=0,
        le=1440,
        unit="min",
    )
    drift_alert: float = setting(
        10.0,
        "Alert when the quote balance drifts this far from the ledger (quote units).",
        ge=0,
        le=1e12,
    )
    fd_alert_pct: float = setting(
        80.0, "Alert when this share of the open-file limit is in use.", gt=0, le=100, unit="%"
    )
    memory_alert_mb_h: float = setting(
        100.0, "Alert when memory grows faster than this per hour.", gt=0, le=1e6, unit="MB"
    )
    metrics: bool = setting(
        False, "Serve /metrics (Prometheus) and /health (JSON) over HTTP, read-only."
    )
    metrics_host: str = setting(
        "127.0.0.1",
        "Address the metrics endpoint listens on (127.0.0.1: this machine only).",
        pattern=r"^[A-Za-z0-9.:\[\]-]{1,64}$",
    )
    metrics_port: int = setting(9464, "Port of the metrics endpoint.", ge=1, le=65535)


@dataclass(frozen=True, slots=True)
class UISettings:
    """How the app looks."""

    theme: str = setting("midnight", "Colour theme (a shipped theme or one of yours).")
    refresh_hz: int = setting(
        10, "How often the screens redraw with new data.", ge=1, le=10, unit="Hz"
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings of tradebot-tui."""

    strategy: StrategySettings = field(default_factory=StrategySettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    exits: ExitSettings = field(default_factory=ExitSettings)
    budget: BudgetSettings = field(default_factory=BudgetSettings)
    market: MarketSettings = field(default_factory=MarketSettings)
    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    ui: UISettings = field(default_factory=UISettings)

    def strategy_params(self) -> StrategyParams:
        """The trader's view of these settings."""
        return StrategyParams(
            anchor=AnchorMode(self.strategy.anchor),
            window_s=self.strategy.window_s,
            trigger_pct=self.strategy.trigger_pct,
            stake=self.budget.stake,
            max_positions=self.risk.max_positions,
            cooldown_s=self.risk.cooldown_s,
            daily_loss_limit_pct=self.risk.daily_loss_limit_pct,
            max_drawdown_pct=self.risk.max_drawdown_pct,
            stale_after_s=self.risk.stale_after_s,
            fee_rate=self.exchange.fee_rate,
            exits=ExitParams(
                take_profit_pct=self.exits.take_profit_pct,
                stop_loss_pct=self.exits.stop_loss_pct,
                trailing_activation_pct=self.exits.trailing_activation_pct,
                trailing_distance_pct=self.exits.trailing_distance_pct,
                max_hold_ms=self.exits.max_hold_s * 1000,
                on_exchange=self.exits.on_exchange,
                stop_limit_gap_pct=self.exits.stop_limit_gap_pct,
            ),
        )


SECTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings))


def section_types() -> dict[str, type]:
    """The dataclass of each section, by section name, in schema order."""
    hints = typing.get_type_hints(Settings)
    return {name: hints[name] for name in SECTIONS}
