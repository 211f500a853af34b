"""The closed trades of a journal, read without starting the bot (`tradebot-tui trades`).

The journal holds orders and fills, not trades: the trades are what the trader makes of
them, so they are replayed through a trader exactly as a restart does, and come out
equal to what the running bot shows (history screen, `/profit`, `/daily`). The journal
is opened read-only: a bot running on it is not disturbed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.book import Trade
from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.orders import OrderClosed
from tradebot_tui.core.trader import Trader
from tradebot_tui.journal.schema import SCHEMA_VERSION
from tradebot_tui.journal.store import Journal


class TradesError(TradebotError):
    """The trades cannot be read (no journal, an older or damaged one)."""


def read_trades(path: Path, settings: Settings, rules: Callable[[str], MarketRules]) -> list[Trade]:
    """Every closed trade of the journal at `path`, oldest first."""
    if not path.exists():
        raise TradesError(f"no journal at {path}: nothing was traded in this mode and profile")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise TradesError(f"{path}: cannot be read ({exc})") from None
    if version != SCHEMA_VERSION:
        db.close()
        raise TradesError(
            f"{path}: journal version {version}, this tradebot-tui reads {SCHEMA_VERSION}; "
            "start the bot once to upgrade it (or upgrade tradebot-tui)"
        )
    journal = Journal(path, db)
    trader = Trader(
        settings.strategy_params(), Ledger(settings.budget.quote, settings.budget.initial), rules
    )
    trades: list[Trade] = []
    try:
        for jo in journal.orders():
            intent = jo.intent
            trader.restore_intent(intent)
            for fill in jo.fills:
                trader.on_fill(fill)
            if jo.terminal:
                closed = OrderClosed(intent.client_id, jo.status, intent.ts_ms, jo.message)
                trade = trader.on_closed(closed)
                if trade is not None:
                    trades.append(trade)
    except (sqlite3.DatabaseError, ValueError) as exc:
        raise TradesError(f"{path}: the journal does not add up ({exc})") from None
    finally:
        db.close()
    return trades
