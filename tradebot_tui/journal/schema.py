"""The journal's SQLite schema: its migrations, and the statements that write its rows.

A journal records its version in `PRAGMA user_version`; `Journal.open` refuses a newer
one and runs the missing migrations of an older one (migration n brings version n to
n + 1), each in its own transaction. Each write is an `Op`, statements to run inside a
transaction, so that the journal writer can commit several at once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from tradebot_tui.core.identity import client_id_seq

if TYPE_CHECKING:
    from tradebot_tui.core.bracket import Bracket, ListIds
    from tradebot_tui.core.orders import Fill, OrderIntent, OrderStatus

# One write: statements run on the connection inside the journal's transaction.
Op = Callable[[sqlite3.Connection], object]


def _v1(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE intents (
            cid TEXT PRIMARY KEY, seq INTEGER NOT NULL, symbol TEXT NOT NULL,
            side TEXT NOT NULL, purpose TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL,
            ts_ms INTEGER NOT NULL, reserved TEXT NOT NULL, reason TEXT, anchor REAL,
            drop_pct REAL, status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
            adopted INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE fills (
            id INTEGER PRIMARY KEY AUTOINCREMENT, cid TEXT NOT NULL REFERENCES intents(cid),
            qty TEXT NOT NULL, price TEXT NOT NULL, fee TEXT NOT NULL, ts_ms INTEGER NOT NULL
        );
        CREATE TABLE positions (
            symbol TEXT PRIMARY KEY, qty TEXT NOT NULL, cost TEXT NOT NULL,
            updated_fill INTEGER NOT NULL
        );
        CREATE TABLE ledger (
            id INTEGER PRIMARY KEY AUTOINCREMENT, cid TEXT NOT NULL, free TEXT NOT NULL,
            reserved TEXT NOT NULL, in_positions TEXT NOT NULL, realized_pnl TEXT NOT NULL,
            fees_paid TEXT NOT NULL
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, wall_ms INTEGER NOT NULL,
            kind TEXT NOT NULL, symbol TEXT, detail TEXT NOT NULL
        );
        """,
    )


def _script(db: sqlite3.Connection, script: str) -> None:
    """Statements one by one: executescript would commit the migration's transaction."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _v2(db: sqlite3.Connection) -> None:
    """Fills remember the part of the executed amount taken as commission (base asset)."""
    db.execute("ALTER TABLE fills ADD COLUMN commission_qty TEXT NOT NULL DEFAULT '0'")


def _v3(db: sqlite3.Connection) -> None:
    """Intents remember when they were journaled (wall clock, ms): an order found on the
    exchange after an error is ours only if it was created after that."""
    db.execute("ALTER TABLE intents ADD COLUMN journaled_ms INTEGER")


def _v4(db: sqlite3.Connection) -> None:
    """Fills remember the quote value of a commission paid in a third asset (BNB)."""
    db.execute("ALTER TABLE fills ADD COLUMN fee_elsewhere TEXT NOT NULL DEFAULT '0'")


def _v5(db: sqlite3.Connection) -> None:
    """Intents remember how the order executes (`OrderKind`): a sale by a leg of an order
    list resting on the exchange is not a market order."""
    db.execute("ALTER TABLE intents ADD COLUMN kind TEXT NOT NULL DEFAULT 'market'")


def _v6(db: sqlite3.Connection) -> None:
    """Order lists resting on the exchange (`exits.on_exchange`, live): each journaled
    before it is sent, with its three ids (never used again) and what became of it."""
    db.execute(
        "CREATE TABLE order_lists (list_id TEXT PRIMARY KEY, symbol TEXT NOT NULL, "
        "above TEXT NOT NULL, below TEXT NOT NULL, qty TEXT NOT NULL, take TEXT NOT NULL, "
        "stop TEXT NOT NULL, stop_limit TEXT NOT NULL, trailing INTEGER NOT NULL, "
        "journaled_ms INTEGER NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL "
        "DEFAULT '')"
    )


# Migration n brings a journal from version n to n + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6]

SCHEMA_VERSION = len(MIGRATIONS)


# -- the rows ---------------------------------------------------------------------------------


# What became of an order list: the exchange holds it (`resting`), or it is over
# (`over`: a leg executed or it was cancelled; `absent`: the exchange showed it was never
# placed; `refused`). A list still `placing` at a restart is looked up, never sent again.
LIST_OPEN = ("placing", "resting")


def order_list(symbol: str, ids: ListIds, bracket: Bracket, journaled_ms: int) -> Op:
    """An order list's row, written before it is sent."""
    row = (
        ids.list_id,
        symbol,
        ids.above,
        ids.below,
        str(bracket.qty),
        str(bracket.take_price),
        str(bracket.stop_price),
        str(bracket.stop_limit),
        int(bracket.trailing),
        journaled_ms,
        "placing",
    )
    return lambda db: db.execute(
        "INSERT INTO order_lists (list_id, symbol, above, below, qty, take, stop, stop_limit, "
        "trailing, journaled_ms, status) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        row,
    )


def list_status(list_id: str, status: str, message: str = "") -> Op:
    return lambda db: db.execute(
        "UPDATE order_lists SET status=?, message=? WHERE list_id=?", (status, message, list_id)
    )


def intent(intent: OrderIntent, *, adopted: bool = False, journaled_ms: int = 0) -> Op:
    """The intent's row, written before the order is sent, stamped with the wall clock."""
    from tradebot_tui.core.orders import OrderStatus  # loaded with the engine by then

    row = (
        intent.client_id,
        client_id_seq(intent.client_id) or 0,
        intent.symbol,
        intent.side.value,
        intent.purpose.value,
        str(intent.qty),
        str(intent.price),
        intent.ts_ms,
        str(intent.reserved),
        intent.reason.value if intent.reason else None,
        intent.anchor,
        intent.drop_pct,
        OrderStatus.PENDING.value,
        int(adopted),
        journaled_ms or int(time.time() * 1000),
        intent.kind.value,
    )
    return lambda db: db.execute(
        "INSERT INTO intents (cid, seq, symbol, side, purpose, qty, price, ts_ms, "
        "reserved, reason, anchor, drop_pct, status, adopted, journaled_ms, kind) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        row,
    )


def fill(fill: Fill, symbol: str, position_qty: Decimal, cost: Decimal) -> Op:
    """A fill, the symbol's holding after it, and the order now partly filled."""
    from tradebot_tui.core.orders import OrderStatus

    def op(db: sqlite3.Connection) -> None:
        cur = db.execute(
            "INSERT INTO fills (cid, qty, price, fee, ts_ms, commission_qty, fee_elsewhere) "
            "VALUES (?,?,?,?,?,?,?)",
            (
                fill.client_id,
                str(fill.qty),
                str(fill.price),
                str(fill.fee),
                fill.ts_ms,
                str(fill.commission_qty),
                str(fill.fee_elsewhere),
            ),
        )
        db.execute(
            "INSERT INTO positions VALUES (?,?,?,?) ON CONFLICT(symbol) DO UPDATE SET "
            "qty=excluded.qty, cost=excluded.cost, updated_fill=excluded.updated_fill",
            (symbol, str(position_qty), str(cost), cur.lastrowid),
        )
        db.execute(
            "UPDATE intents SET status=? WHERE cid=? AND status=?",
            (OrderStatus.PARTIALLY_FILLED.value, fill.client_id, OrderStatus.PENDING.value),
        )

    return op


def close(cid: str, status: OrderStatus, message: str, ledger: tuple[Decimal, ...]) -> Op:
    """An order's end, and the budget after it."""

    def op(db: sqlite3.Connection) -> None:
        db.execute(
            "UPDATE intents SET status=?, message=? WHERE cid=?", (status.value, message, cid)
        )
        db.execute(
            "INSERT INTO ledger (cid, free, reserved, in_positions, realized_pnl, "
            "fees_paid) VALUES (?,?,?,?,?,?)",
            (cid, *map(str, ledger)),
        )

    return op


def event(kind: str, detail: str, symbol: str | None = None) -> Op:
    """A control event or a recovery note, stamped with the wall clock."""
    wall_ms = int(time.time() * 1000)
    return lambda db: db.execute(
        "INSERT INTO events (wall_ms, kind, symbol, detail) VALUES (?,?,?,?)",
        (wall_ms, kind, symbol, detail),
    )


EXIT_ASKED = "exit asked"
# Meta key: where every price was (a restarted simulated market goes on from there).
LAST_PRICES = "last_prices"


def exit_asked(cid: str, symbol: str, reason: str) -> Op:
    """An exit asked for while order `cid` was open (its buy, or an order in doubt): a
    restart makes it due again when it restores that order."""
    return event(EXIT_ASKED, f"{cid} {reason}", symbol)


def meta(key: str, value: str) -> Op:
    return lambda db: db.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        (key, value),
    )
