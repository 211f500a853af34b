"""The closed trades of a journal, read without starting the bot (`tradebot-tui trades`).

The journal holds orders and fills, not trades: the trades are what the trader makes of
them, so they are replayed through a trader exactly as a restart does, and come out
equal to what the running bot shows (history screen, `/profit`, `/daily`). The journal
is opened read-only: a bot running on it is not disturbed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.ledger import Ledger
from tradebot_tui.core.market import MarketRules
from tradebot_tui.core.money import fmt_decimal
from tradebot_tui.core.orders import OrderClosed
from tradebot_tui.core.trader import Trade, Trader
from tradebot_tui.journal.schema import SCHEMA_VERSION
from tradebot_tui.journal.store import Journal
from tradebot_tui.journal.tallies import Tallies, Tally
from tradebot_tui.replay.runner import trades_csv


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


def _tally_row(label: str, key: str, t: Tally) -> dict[str, object]:
    return {
        label: key,
        "trades": t.trades,
        "won": t.wins,
        "pnl": fmt_decimal(t.pnl),
        "fees": fmt_decimal(t.fees),
    }


def export(trades: Sequence[Trade], fmt: str, by: str) -> str:
    """The trades (`by` = "trade"), or their sums per UTC day or per coin, as CSV or JSON."""
    if by == "trade":
        if fmt == "csv":
            return trades_csv(trades)
        rows: list[dict[str, object]] = [
            {
                "symbol": t.symbol,
                "entry_ts_ms": t.entry_ts_ms,
                "entry_price": fmt_decimal(t.entry_price),
                "exit_ts_ms": t.exit_ts_ms,
                "exit_price": fmt_decimal(t.exit_price),
                "qty": fmt_decimal(t.qty),
                "exit_reason": t.exit_reason.value,
                "pnl": fmt_decimal(t.pnl),
                "fees": fmt_decimal(t.fees),
            }
            for t in trades
        ]
    else:
        stats = Tallies()
        for t in trades:
            stats.add(t)
        if by == "day":
            rows = [_tally_row("day", d, stats.days[d]) for d in sorted(stats.days)]
        else:
            rows = [_tally_row("symbol", s, stats.coins[s]) for s in sorted(stats.coins)]
    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    header = (
        list(rows[0])
        if rows
        else ["day" if by == "day" else "symbol", "trades", "won", "pnl", "fees"]
    )
    lines = [",".join(header)]
    lines.extend(",".join(str(row[k]) for k in header) for row in rows)
    return "\n".join(lines) + "\n"
