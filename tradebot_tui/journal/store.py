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
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from tradebot_tui.config.files import private_dir, private_file
from tradebot_tui.core.errors import TradebotError
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.money import parse_decimal
from tradebot_tui.journal import schema as rows
from tradebot_tui.journal.schema import LIST_OPEN, MIGRATIONS, SCHEMA_VERSION, Op

if TYPE_CHECKING:  # imported where orders are read back: a start opens the journal first
    from tradebot_tui.core.bracket import Bracket, ListIds
    from tradebot_tui.core.orders import Fill, OrderIntent, OrderStatus

IDENTITY_LENGTH = 8
_IDENTITY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
# What a journal moved aside is called: state.db.<kind>-<time>.
_ASIDE = ("unreadable", "lost")


def move_aside(path: Path, kind: str) -> Path:
    """Move the journal at `path` (with its -wal and -shm) to `<path>.<kind>-<time>`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{kind}-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            src.replace(Path(str(target) + suffix))
    return target


class JournalError(TradebotError):
    """The journal cannot be used; the message says why and what to do."""


class JournalFull(JournalError):
    """A write failed for lack of space: the order it was for is not sent."""


@dataclass
class JournaledOrder:
    """One intent and what the journal knows happened to it."""

    intent: OrderIntent
    seq: int
    status: OrderStatus
    message: str
    adopted: bool
    fills: list[Fill] = field(default_factory=list)
    # When it was written (wall clock ms); the tick's time for journals before version 3.
    journaled_ms: int = 0

    @property
    def terminal(self) -> bool:
        return self.status.terminal


@dataclass(frozen=True)
class JournaledList:
    """One order list as the journal has it (`schema.order_list`)."""

    symbol: str
    ids: ListIds
    bracket: Bracket
    journaled_ms: int
    status: str
    message: str

    @property
    def open(self) -> bool:
        return self.status in LIST_OPEN


class Journal:
    """One journal file; every write commits before it returns."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self.db = db
        self.identity = ""
        self.closed = False

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
        private_dir(path.parent)
        aside = sorted(
            p
            for p in path.parent.glob(path.name + ".*-*")
            if p.name[len(path.name) + 1 :].split("-")[0] in _ASIDE
            and not p.name.endswith(("-wal", "-shm"))
        )
        if aside and not path.exists() and not new_journal:
            raise JournalError(
                f"the journal was moved aside to {aside[-1]} (see the reason given then); "
                "trading stays off until you decide: inspect it (or put a good copy back at "
                f"{path}), or start with --new-journal to begin a fresh one"
            )
        try:
            # Owner only, like the secrets: SQLite gives its -wal and -shm files the
            # database file's permissions.
            private_file(path)
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
            journal.identity = journal._identity()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise cls._move_aside(path, f"{exc}") from None
        return journal

    @staticmethod
    def _move_aside(path: Path, reason: str, kind: str = "unreadable") -> JournalError:
        target = move_aside(path, kind)
        return JournalError(
            f"the journal {path} cannot be read ({reason}); it was moved to {target} and "
            "nothing was traded. Inspect it, put a good copy back, or start with "
            "--new-journal to begin a fresh one"
        )

    def set_aside(self, kind: str) -> Path:
        """Close this journal and move its files aside (`state.db.<kind>-<time>`): the
        next start refuses to trade until the user decides (`--new-journal`)."""
        self.close()
        return move_aside(self.path, kind)

    def _migrate(self, version: int) -> None:
        for target in range(version, SCHEMA_VERSION):
            with self._tx():
                MIGRATIONS[target](self.db)
                self.db.execute(f"PRAGMA user_version={target + 1}")

    def _identity(self) -> str:
        """This journal's identity, made when it is created (or first opened by a version
        that has identities) and part of every client id it makes.

        It is checkpointed into the database file at once: a journal that later loses its
        WAL still knows its identity, so the start can see what it lost on the exchange.
        """
        row = self.db.execute("SELECT value FROM meta WHERE key='identity'").fetchone()
        if row is not None:
            return str(row[0])
        import secrets  # once per journal (loads OpenSSL: 3 ms of every start before)

        identity = "".join(secrets.choice(_IDENTITY_CHARS) for _ in range(IDENTITY_LENGTH))
        with self._tx():
            self.db.execute("INSERT INTO meta VALUES ('identity', ?)", (identity,))
            self.db.execute(
                "INSERT INTO meta VALUES ('created_ms', ?)", (str(int(time.time() * 1000)),)
            )
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return identity

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
        self.closed = True
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

    def write(self, ops: list[Op]) -> None:
        """Run `ops` in one transaction and commit it (one fsync): all of them or none.

        Raises:
            JournalFull: the disk is full; JournalError: any other failed write.
        """
        if self.closed:
            raise JournalError(f"journal {self.path}: closed (set aside?); nothing written")
        try:
            with self._tx():
                for op in ops:
                    op(self.db)
        except sqlite3.Error as exc:
            if "full" in str(exc).lower():
                raise JournalFull(f"journal {self.path}: disk full ({exc})") from None
            raise JournalError(f"journal {self.path}: write failed ({exc})") from None

    def record_intent(self, intent: OrderIntent, *, adopted: bool = False) -> None:
        """Before the order is sent: raises (and nothing may be sent) if it is not on disk."""
        self.write([rows.intent(intent, adopted=adopted)])

    def record_fill(self, fill: Fill, symbol: str, position_qty: Decimal, cost: Decimal) -> None:
        self.write([rows.fill(fill, symbol, position_qty, cost)])

    def record_close(
        self, cid: str, status: OrderStatus, message: str, ledger: tuple[Decimal, ...]
    ) -> None:
        self.write([rows.close(cid, status, message, ledger)])

    def record_event(self, kind: str, detail: str, symbol: str | None = None) -> None:
        self.write([rows.event(kind, detail, symbol)])

    def set_meta(self, key: str, value: str) -> None:
        self.write([rows.meta(key, value)])

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def baseline(self) -> dict[str, Decimal] | None:
        raw = self.meta("baseline_balances")
        if raw is None:
            return None
        where = f"{self.path}: meta baseline_balances"
        return {k: _dec(v, where, k) for k, v in json.loads(raw).items()}

    # -- reading ---------------------------------------------------------------------------

    def orders(self) -> Iterator[JournaledOrder]:
        """Every journaled order in the order it was created, with its fills.

        Raises:
            JournalError: a row that does not make sense (edited by hand), named.
        """
        from tradebot_tui.core.orders import (
            Fill,
            OrderIntent,
            OrderKind,
            OrderStatus,
            Purpose,
            Side,
        )

        fills: dict[str, list[Fill]] = {}
        for row_id, cid, qty, price, fee, ts, commission, elsewhere in self.db.execute(
            "SELECT id, cid, qty, price, fee, ts_ms, commission_qty, fee_elsewhere FROM fills "
            "ORDER BY id"
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
                    _dec(elsewhere, where, "fee_elsewhere"),
                )
            )
        rows = self.db.execute(
            "SELECT cid, seq, symbol, side, purpose, qty, price, ts_ms, reserved, reason, "
            "anchor, drop_pct, status, message, adopted, journaled_ms, kind FROM intents "
            "ORDER BY rowid"
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
            journaled_ms,
            kind,
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
                    kind=OrderKind(kind),
                )
                order_status = OrderStatus(status)
            except ValueError as exc:
                raise JournalError(f"{where}: {exc}") from None
            yield JournaledOrder(
                intent,
                int(seq),
                order_status,
                message or "",
                bool(adopted),
                fills.pop(cid, []),
                int(journaled_ms) if journaled_ms is not None else int(ts),
            )
        if fills:
            raise JournalError(f"{self.path}: fills of unknown orders: {', '.join(sorted(fills))}")

    def events(self, kind: str) -> list[tuple[int, str]]:
        """(row id, detail) of the events of one kind, oldest first."""
        query = "SELECT id, detail FROM events WHERE kind = ? ORDER BY id"
        return [(int(i), str(d)) for i, d in self.db.execute(query, (kind,))]

    def positions(self) -> dict[str, tuple[Decimal, Decimal]]:
        out = {}
        for symbol, qty, cost, _ in self.db.execute("SELECT * FROM positions"):
            where = f"{self.path}: positions row {symbol}"
            out[symbol] = (_dec(qty, where, "qty"), _dec(cost, where, "cost"))
        return out

    def summary(self, quote: str) -> str:
        """What the journal holds, in a few words (said before it is discarded)."""
        orders = int(self.db.execute("SELECT COUNT(*) FROM intents").fetchone()[0])
        held = [f"{s} {q.normalize()}" for s, (q, _) in sorted(self.positions().items()) if q]
        row = self.db.execute(
            "SELECT realized_pnl, fees_paid FROM ledger ORDER BY id DESC LIMIT 1"
        ).fetchone()
        pnl = (Decimal(row[0]) - Decimal(row[1])) if row else Decimal(0)
        holding = f"holding {', '.join(held)}" if held else "no position"
        return f"{orders} orders, {holding}, closed-trade PnL {pnl:+.2f} {quote} after fees"

    def order_lists(self) -> list[JournaledList]:
        """Every journaled order list, oldest first.

        Raises:
            JournalError: a row that does not make sense (edited by hand), named.
        """
        from tradebot_tui.core.bracket import Bracket, ListIds

        out = []
        for row in self.db.execute(
            "SELECT list_id, symbol, above, below, qty, take, stop, stop_limit, trailing, "
            "journaled_ms, status, message FROM order_lists ORDER BY rowid"
        ):
            list_id, symbol, above, below, qty, take, stop, limit, trailing = row[:9]
            where = f"{self.path}: order_lists {list_id}"
            bracket = Bracket(
                _dec(qty, where, "qty"),
                _dec(take, where, "take"),
                _dec(stop, where, "stop"),
                _dec(limit, where, "stop_limit"),
                bool(trailing),
            )
            out.append(
                JournaledList(
                    str(symbol),
                    ListIds(str(list_id), str(above), str(below)),
                    bracket,
                    int(row[9]),
                    str(row[10]),
                    str(row[11]),
                )
            )
        return out

    def max_seq(self) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM intents").fetchone()
        return int(row[0] or 0)

    def fill_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM fills").fetchone()[0])


def _dec(text: str, where: str, what: str) -> Decimal:
    try:
        return parse_decimal(text, what, nonnegative=True)
    except ValueError as exc:
        raise JournalError(f"{where}: {exc}") from None
