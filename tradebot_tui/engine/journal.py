"""The write-ahead journal: every order intent is on disk before it is sent.

SQLite in WAL mode with synchronous=FULL: a committed row survives kill -9 and power
loss. Tables: `intents` (one row per order, written before sending, its status updated
as it ends), `fills` (every execution, in arrival order), `positions` (each symbol's
holding after every fill: a cross-check of the fills), `ledger` (the budget after every
closure), `events` (control events and recovery notes), `meta` (schema version,
profile, baseline balances).

At open: the schema version is checked (a newer one is refused, an older one migrated),
then `PRAGMA integrity_check`. A journal that cannot be read is moved aside and trading
is refused until the user decides (`--new-journal` starts a fresh one): never a silent
reset.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.orders import (
    Fill,
    OrderIntent,
    OrderStatus,
    Purpose,
    Side,
    client_id_seq,
)

SCHEMA_VERSION = 2
TERMINAL = {
    OrderStatus.FILLED,
    OrderStatus.CANCELED,
    OrderStatus.REJECTED,
    OrderStatus.EXPIRED,
    OrderStatus.FAILED,
}


class JournalError(TradebotError):
    """The journal cannot be used; the message says why and what to do."""


class JournalFull(JournalError):
    """A write failed for lack of space: the order it was for is not sent."""


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


# Migration n brings a journal from version n to n + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]


@dataclass
class JournaledOrder:
    """One intent and what the journal knows happened to it."""

    intent: OrderIntent
    seq: int
    status: OrderStatus
    message: str
    adopted: bool
    fills: list[Fill] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class Journal:
    """One journal file; every write commits before it returns."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self.db = db

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: Path, *, profile: str, new_journal: bool = False, max_pages: int = 0
    ) -> Journal:
        """Open (or create) the journal at `path`.

        Raises:
            JournalError: unreadable (moved aside), newer schema, another profile, or a
                previous journal was moved aside and `new_journal` was not given.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = sorted(path.parent.glob(path.name + ".unreadable-*"))
        if aside and not path.exists() and not new_journal:
            raise JournalError(
                f"the journal was moved aside to {aside[-1]} because it could not be read; "
                "trading stays off until you decide: inspect it (or put a good copy back at "
                f"{path}), or start with --new-journal to begin a fresh one"
            )
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            if max_pages:
                db.execute(f"PRAGMA max_page_count={int(max_pages)}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            check = db.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise cls._move_aside(path, f"{exc}") from None
        if check != [("ok",)]:
            db.close()
            detail = "; ".join(str(row[0]) for row in check[:3])
            raise cls._move_aside(path, f"integrity check failed: {detail}")
        if version > SCHEMA_VERSION:
            db.close()
            raise JournalError(
                f"{path} was written by a newer tradebot-tui (journal schema {version}, this "
                f"version reads up to {SCHEMA_VERSION}); upgrade tradebot-tui, nothing was "
                "changed"
            )
        journal = cls(path, db)
        try:
            journal._migrate(version)
            journal._check_profile(profile)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise cls._move_aside(path, f"{exc}") from None
        return journal

    @staticmethod
    def _move_aside(path: Path, reason: str) -> JournalError:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = path.with_name(f"{path.name}.unreadable-{stamp}")
        moved = []
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(path) + suffix)
            if src.exists():
                src.replace(Path(str(target) + suffix))
                moved.append(src.name)
        return JournalError(
            f"the journal {path} cannot be read ({reason}); it was moved to {target} and "
            "nothing was traded. Inspect it, put a good copy back, or start with "
            "--new-journal to begin a fresh one"
        )

    def _migrate(self, version: int) -> None:
        for target in range(version, SCHEMA_VERSION):
            with self._tx():
                MIGRATIONS[target](self.db)
                self.db.execute(f"PRAGMA user_version={target + 1}")

    def _check_profile(self, profile: str) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='profile'").fetchone()
        if row is None:
            with self._tx():
                self.db.execute("INSERT INTO meta VALUES ('profile', ?)", (profile,))
        elif row[0] != profile:
            raise JournalError(
                f"{self.path} belongs to profile {row[0]!r}, not {profile!r}: one journal per "
                "bot instance (set exchange.profile, or another data dir)"
            )

    def close(self) -> None:
        self.db.close()

    # -- writing ---------------------------------------------------------------------------

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            if exc_type is None:
                try:
                    self.db.execute("COMMIT")
                    return
                except sqlite3.OperationalError:
                    self._rollback()
                    raise
            self._rollback()

        def _rollback(self) -> None:
            # SQLite may already have rolled back by itself (a full disk does that).
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")

    def _tx(self) -> Journal._Tx:
        return Journal._Tx(self.db)

    def _write(self, fn: Callable[[], None]) -> None:
        try:
            with self._tx():
                fn()
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower():
                raise JournalFull(f"journal {self.path}: disk full ({exc})") from None
            raise JournalError(f"journal {self.path}: write failed ({exc})") from None

    def record_intent(self, intent: OrderIntent, *, adopted: bool = False) -> None:
        """Before the order is sent: raises (and nothing may be sent) if it is not on disk."""
        seq = client_id_seq(intent.client_id) or 0

        def write() -> None:
            self.db.execute(
                "INSERT INTO intents (cid, seq, symbol, side, purpose, qty, price, ts_ms, "
                "reserved, reason, anchor, drop_pct, status, adopted) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    intent.client_id,
                    seq,
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
                ),
            )

        self._write(write)

    def record_fill(self, fill: Fill, symbol: str, position_qty: Decimal, cost: Decimal) -> None:
        def write() -> None:
            cur = self.db.execute(
                "INSERT INTO fills (cid, qty, price, fee, ts_ms, commission_qty) "
                "VALUES (?,?,?,?,?,?)",
                (
                    fill.client_id,
                    str(fill.qty),
                    str(fill.price),
                    str(fill.fee),
                    fill.ts_ms,
                    str(fill.commission_qty),
                ),
            )
            self.db.execute(
                "INSERT INTO positions VALUES (?,?,?,?) ON CONFLICT(symbol) DO UPDATE SET "
                "qty=excluded.qty, cost=excluded.cost, updated_fill=excluded.updated_fill",
                (symbol, str(position_qty), str(cost), cur.lastrowid),
            )
            self.db.execute(
                "UPDATE intents SET status=? WHERE cid=? AND status=?",
                (OrderStatus.PARTIALLY_FILLED.value, fill.client_id, OrderStatus.PENDING.value),
            )

        self._write(write)

    def record_close(
        self, cid: str, status: OrderStatus, message: str, ledger: tuple[Decimal, ...]
    ) -> None:
        def write() -> None:
            self.db.execute(
                "UPDATE intents SET status=?, message=? WHERE cid=?", (status.value, message, cid)
            )
            self.db.execute(
                "INSERT INTO ledger (cid, free, reserved, in_positions, realized_pnl, "
                "fees_paid) VALUES (?,?,?,?,?,?)",
                (cid, *map(str, ledger)),
            )

        self._write(write)

    def record_event(self, kind: str, detail: str, symbol: str | None = None) -> None:
        self._write(
            lambda: self.db.execute(
                "INSERT INTO events (wall_ms, kind, symbol, detail) VALUES (?,?,?,?)",
                (int(time.time() * 1000), kind, symbol, detail),
            ).close()
        )

    def set_meta(self, key: str, value: str) -> None:
        self._write(
            lambda: self.db.execute(
                "INSERT INTO meta VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            ).close()
        )

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def baseline(self) -> dict[str, Decimal] | None:
        raw = self.meta("baseline_balances")
        return None if raw is None else {k: Decimal(v) for k, v in json.loads(raw).items()}

    # -- reading ---------------------------------------------------------------------------

    def orders(self) -> Iterator[JournaledOrder]:
        """Every journaled order in the order it was created, with its fills.

        Raises:
            JournalError: a row that does not make sense (edited by hand), named.
        """
        fills: dict[str, list[Fill]] = {}
        for row_id, cid, qty, price, fee, ts, commission in self.db.execute(
            "SELECT id, cid, qty, price, fee, ts_ms, commission_qty FROM fills ORDER BY id"
        ):
            where = f"{self.path}: fills row {row_id}"
            fills.setdefault(cid, []).append(
                Fill(
                    cid,
                    _dec(qty, where, "qty"),
                    _dec(price, where, "price"),
                    _dec(fee, where, "fee"),
                    int(ts),
                    _dec(commission, where, "commission_qty"),
                )
            )
        rows = self.db.execute(
            "SELECT cid, seq, symbol, side, purpose, qty, price, ts_ms, reserved, reason, "
            "anchor, drop_pct, status, message, adopted FROM intents ORDER BY seq, rowid"
        )
        for (
            cid,
            seq,
            symbol,
            side,
            purpose,
            qty,
            price,
            ts,
            reserved,
            reason,
            anchor,
            drop,
            status,
            message,
            adopted,
        ) in rows:
            where = f"{self.path}: intents row {cid}"
            try:
                intent = OrderIntent(
                    client_id=cid,
                    symbol=symbol,
                    side=Side(side),
                    purpose=Purpose(purpose),
                    qty=_dec(qty, where, "qty"),
                    price=_dec(price, where, "price"),
                    ts_ms=int(ts),
                    reserved=_dec(reserved, where, "reserved"),
                    reason=ExitReason(reason) if reason else None,
                    anchor=anchor,
                    drop_pct=drop,
                )
                order_status = OrderStatus(status)
            except ValueError as exc:
                raise JournalError(f"{where}: {exc}") from None
            yield JournaledOrder(
                intent, int(seq), order_status, message or "", bool(adopted), fills.pop(cid, [])
            )
        if fills:
            raise JournalError(f"{self.path}: fills of unknown orders: {', '.join(sorted(fills))}")

    def positions(self) -> dict[str, tuple[Decimal, Decimal]]:
        out = {}
        for symbol, qty, cost, _ in self.db.execute("SELECT * FROM positions"):
            where = f"{self.path}: positions row {symbol}"
            out[symbol] = (_dec(qty, where, "qty"), _dec(cost, where, "cost"))
        return out

    def max_seq(self) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM intents").fetchone()
        return int(row[0] or 0)

    def fill_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM fills").fetchone()[0])


def _dec(text: str, where: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise JournalError(f"{where}: {what} is not a number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise JournalError(f"{where}: {what} must be a finite number >= 0, got {text!r}")
    return value
