"""The typed settings schema: one source for validation, defaults, help text and `config init`.

Every field is declared with `setting(...)`, which carries its default, a one-line
description (shown as help in the config screen and as a comment by `config init`) and
its allowed range or choices. Sections are frozen dataclasses; unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from tradebot_tui.core.anchors import AnchorMode
from tradebot_tui.core.exits import ExitParams
from tradebot_tui.core.market import split_symbol
from tradebot_tui.core.orders import PROFILE_RE
from tradebot_tui.core.trader import StrategyParams


class ConfigError(Exception):
    """A setting that is wrong, named by file and key path."""

    def __init__(self, source: str, key: str | None, message: str) -> None:
        self.source = source
        self.key = key
        self.message = message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


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
    ws_stream: Literal["bookTicker", "miniTicker"] = setting(
        "bookTicker",
        "Binance stream: bookTicker (best bid/ask, mid price) or miniTicker (last price).",
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
        "A holding may differ from the exchange's by this much before entries stop.",
        ge=0,
        le=100,
        unit="%",
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
        "wss://stream.binance.com:9443",
        "Websocket base URL of the Binance streams.",
        pattern=r"^wss?://[^\s]+$",
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
            ),
        )


SECTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings))


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One setting as the config screen and `config init` see it."""

    section: str
    name: str
    type: Any
    default: Any
    description: str
    unit: str
    ge: float | None
    gt: float | None
    le: float | None
    pattern: str | None

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def choices(self) -> tuple[str, ...] | None:
        if typing.get_origin(self.type) is Literal:
            return tuple(typing.get_args(self.type))
        return None


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {name: hints[name] for name in SECTIONS}


def fields() -> list[FieldInfo]:
    """Every setting, section by section, in declaration order."""
    out = []
    for section, cls in _section_types().items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meta = f.metadata
            out.append(
                FieldInfo(
                    section=section,
                    name=f.name,
                    type=hints[f.name],
                    default=f.default,
                    description=meta["description"],
                    unit=meta["unit"],
                    ge=meta["ge"],
                    gt=meta["gt"],
                    le=meta["le"],
                    pattern=meta["pattern"],
                )
            )
    return out


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return "a list of strings"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        Decimal: "a number",
        str: "a string",
    }.get(tp, str(tp))


def convert(info: FieldInfo, value: Any) -> Any:
    """Check one raw TOML value against its field; return it in the field's type.

    Raises:
        ValueError: with a message saying what is wrong (the caller adds file and key).
    """
    tp = info.type
    got = f"got {value!r}"
    if typing.get_origin(tp) is Literal:
        if value not in typing.get_args(tp):
            raise ValueError(f"must be {_type_name(tp)}, {got}")
        return value
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"must be {_type_name(tp)}, {got}")
        return tuple(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, {got}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, {got}")
        if info.pattern and not re.match(info.pattern, value):
            raise ValueError(f"{value!r} does not match {info.pattern}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"must be {_type_name(tp)}, {got}")
    if tp is int:
        if not isinstance(value, int):
            raise ValueError(f"must be an integer, {got}")
        number: Any = value
    elif tp is float:
        if isinstance(value, str):
            raise ValueError(f"must be a number, {got}")
        number = float(value)
    elif tp is Decimal:
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            raise ValueError(f"must be a number, {got}") from None
        if not number.is_finite():
            raise ValueError(f"must be a finite number, {got}")
    else:  # pragma: no cover - a schema field of an unsupported type
        raise TypeError(f"unsupported setting type {tp}")
    if number != number:  # NaN
        raise ValueError(f"must be a number, {got}")
    _check_range(info, number, got)
    return number


def _check_range(info: FieldInfo, number: Any, got: str) -> None:
    unit = f" {info.unit}" if info.unit else ""
    low_ok = (info.ge is None or number >= info.ge) and (info.gt is None or number > info.gt)
    high_ok = info.le is None or number <= info.le
    if low_ok and high_ok:
        return
    low = (
        f">= {info.ge:g}"
        if info.ge is not None
        else f"> {info.gt:g}"
        if info.gt is not None
        else ""
    )
    high = f"<= {info.le:g}" if info.le is not None else ""
    bounds = " and ".join(b for b in (low, high) if b)
    raise ValueError(f"must be {bounds}{unit}, {got}")


def from_dict(data: dict[str, Any], source: str) -> Settings:
    """Build Settings from parsed TOML, rejecting unknown keys, wrong types and ranges.

    Raises:
        ConfigError: naming `source` and the key path of the first problem.
    """
    by_section: dict[str, dict[str, FieldInfo]] = {}
    for info in fields():
        by_section.setdefault(info.section, {})[info.name] = info
    sections: dict[str, Any] = {}
    for name, value in data.items():
        if name not in by_section:
            raise ConfigError(source, name, f"unknown section (known: {', '.join(SECTIONS)})")
        if not isinstance(value, dict):
            raise ConfigError(source, name, f"must be a table ([{name}]), got {value!r}")
        known = by_section[name]
        values = {}
        for key, raw in value.items():
            field_info = known.get(key)
            if field_info is None:
                raise ConfigError(
                    source, f"{name}.{key}", f"unknown key (known: {', '.join(known)})"
                )
            try:
                values[key] = convert(field_info, raw)
            except ValueError as exc:
                raise ConfigError(source, f"{name}.{key}", str(exc)) from None
        sections[name] = _section_types()[name](**values)
    settings = Settings(**sections)
    _check_across(settings, source)
    return settings


def _check_across(settings: Settings, source: str) -> None:
    """Rules that involve more than one field."""
    quote = settings.budget.quote
    for i, symbol in enumerate(settings.market.symbols):
        key = f"market.symbols[{i}]"
        try:
            _, sym_quote = split_symbol(symbol)
        except ValueError as exc:
            raise ConfigError(source, key, str(exc)) from None
        if sym_quote != quote:
            raise ConfigError(source, key, f"{symbol} is not quoted in budget.quote ({quote})")
    if len(set(settings.market.symbols)) != len(settings.market.symbols):
        raise ConfigError(source, "market.symbols", "lists a symbol twice")
    for key in ("include", "exclude"):
        for i, symbol in enumerate(getattr(settings.market, key)):
            try:
                split_symbol(symbol)
            except ValueError as exc:
                raise ConfigError(source, f"market.{key}[{i}]", str(exc)) from None
    market = settings.market
    if market.source == "simulated" and market.universe == "top_volume":
        raise ConfigError(
            source, "market.universe", "top_volume needs exchange data (market.source)"
        )
    if market.universe == "static" and not market.symbols and market.source != "simulated":
        raise ConfigError(source, "market.symbols", "universe = static needs symbols to watch")
    if settings.budget.stake > settings.budget.initial:
        raise ConfigError(
            source,
            "budget.stake",
            f"stake {settings.budget.stake} is larger than budget.initial "
            f"{settings.budget.initial}",
        )


def diff(old: Settings, new: Settings) -> list[tuple[str, Any, Any]]:
    """(key path, old value, new value) of every setting that differs, in schema order."""
    out = []
    for info in fields():
        a = getattr(getattr(old, info.section), info.name)
        b = getattr(getattr(new, info.section), info.name)
        if a != b:
            out.append((info.path, a, b))
    return out


def changed_sections(old: Settings, new: Settings) -> list[str]:
    """The sections with at least one setting that differs, in schema order."""
    return [s for s in SECTIONS if getattr(old, s) != getattr(new, s)]


def to_dict(settings: Settings) -> dict[str, dict[str, Any]]:
    """Settings as plain TOML-ready data (tuples become lists)."""
    out: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        values = {}
        for f in dataclasses.fields(getattr(settings, section)):
            value = getattr(getattr(settings, section), f.name)
            values[f.name] = list(value) if isinstance(value, tuple) else value
        out[section] = values
    return out
