"""kill -9 with an order in flight, then restart: nothing lost, nothing twice.

The fake Binance runs in its own process (so it outlives every kill) with a price that
cycles through a 3 % drop and a rebound every four seconds, fills orders at once,
partially, late or not at all (EXPIRED), takes buy commissions in the coin, lags its
order query behind order entry, and fails a fifth of the order entries (5xx, -1007, a
timeout, a dropped connection; most of them after executing the order). Its user data
stream pushes every order event twice, the fill before the order's REST answer: a fill
reaches the bot by the stream, the order query and the trade list, and is booked once.

The real `tradebot-tui --headless --live` trades against it, TRADEBOT_CRASH_KILLS times
(50 by default), each time aimed (TRADEBOT_KILL_AT) at one of three moments of an
order's life, in turn: the intent journaled and the order not sent; the order sent and
its answer not applied; a fill applied and not journaled. At least four kills in five
must land there. After every restart, once the orders in flight have settled:

  - no client order id ever reached the exchange twice, in any form;
  - every order on the exchange was journaled before it was sent (the journal explains
    it), and every one of its fills is in the journal (quantity, value and fee);
  - the ledger identity free + reserved + positions = initial + pnl - fees holds exactly;
  - the journal's position equals the exchange balance (dust included).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
KILLS = int(os.environ.get("TRADEBOT_CRASH_KILLS", "50"))
INITIAL = D(1000)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.fake = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fake_exchange",
                "--sawtooth",
                "--chaos",
                "0.2",
                "--key",
                "crash-test-key:crash-test-secret",
                "--stream-twice",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.fake.stdout is not None
        self.rest = self.fake.stdout.readline().split()[1]
        self.fake.stdout.readline()
        ws_api = self.fake.stdout.readline().split()[1]
        self.config = tmp / "config.toml"
        self.config.write_text(
            '[strategy]\nwindow_s = 60\ntrigger_pct = 1.5\nanchor = "rolling_high"\n'
            "[risk]\ncooldown_s = 0\nstale_after_s = 0\nmax_positions = 1\n"
            "[exits]\nmax_hold_s = 60\n"
            '[market]\nsource = "ccxt"\nsymbols = ["BTC/USDT"]\npoll_interval_s = 0.2\n'
            f'[exchange]\nmode = "live"\nrest_url = "{self.rest}"\nshutdown_grace_s = 0\n'
            f'ws_api_url = "{ws_api}"\n'
            "reconcile_s = 3600\ntimeout_s = 2\nsettle_s = 1.5\n"
        )
        home = tmp / "home"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TRADEBOT", "XDG"))},
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "state"),
            "TRADEBOT_API_KEY": "crash-test-key",
            "TRADEBOT_API_SECRET": "crash-test-secret",
        }
        self.journal = home / "data" / "tradebot-tui" / "journals" / "live-paper.db"
        self.log = (tmp / "engine.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, kill_at: str | None = None) -> None:
        # A run killed early may not have recorded its start: count from here.
        self.starts = len(self.journal_rows("SELECT 1 FROM events WHERE kind='start'")) + 1
        env = dict(self.env)
        if kill_at is not None:
            env["TRADEBOT_KILL_AT"] = kill_at
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tradebot_tui",
                "--config",
                str(self.config),
                "--headless",
                "--live",
                "--confirm-live",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def killed_itself(self, limit: float) -> bool:
        """Wait for the aimed crash point; True when the engine killed itself there."""
        assert self.proc is not None
        try:
            code = self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.kill()
            return False
        if code != -signal.SIGKILL:
            pytest.fail(f"the engine exited ({code}) instead:\n{self.engine_log()}")
        return True

    def control(self, path: str) -> Any:
        with urllib.request.urlopen(self.rest + path, timeout=5) as answer:
            return json.loads(answer.read())

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        self.fake.kill()
        self.fake.wait(10)
        self.log.close()

    def engine_log(self) -> str:
        return (self.tmp / "engine.log").read_text(errors="replace")[-4000:]

    def journal_rows(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.journal.exists():
            return []
        db = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # the engine is creating the journal right now
            raise
        finally:
            db.close()

    def settle(self, limit: float = 30.0) -> dict[str, Any]:
        """Wait until nothing is in flight on either side; the exchange's state then."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"the engine exited ({self.proc.returncode}):\n{self.engine_log()}")
            state = self.control("/fake/state")
            open_here = self.journal_rows(
                "SELECT cid FROM intents WHERE status IN ('pending', 'partially_filled')"
            )
            started = self.journal_rows("SELECT 1 FROM events WHERE kind='start'")
            open_there = [
                o["client_id"]
                for o in state["orders"]
                if o["status"] in ("NEW", "PARTIALLY_FILLED")
            ]
            if not open_here and not open_there and len(started) >= self.starts:
                return state
            time.sleep(0.1)
        pytest.fail(f"orders did not settle:\n{self.engine_log()}")

    starts = 0

    def check(self, state: dict[str, Any]) -> int:
        requests = state["create_requests"]
        assert len(requests) == len(set(requests)), "a client order id was sent twice"
        orders = state["orders"]
        assert len({o["client_id"] for o in orders}) == len(orders), "an id became two orders"
        intents = {row[0] for row in self.journal_rows("SELECT cid FROM intents")}
        fills: dict[str, list[tuple[D, D, D]]] = {}
        rows = self.journal_rows("SELECT cid, qty, price, fee, commission_qty FROM fills")
        for cid, qty, price, fee, commission in rows:
            # What the exchange executed: what we received plus the commission in coin.
            fills.setdefault(cid, []).append((D(qty) + D(commission), D(price), D(fee)))
        for order in orders:
            cid = order["client_id"]
            assert cid in intents, f"{cid} is on the exchange but the journal does not explain it"
            ours = fills.get(cid, [])
            assert sum((q for q, _, _ in ours), D(0)) == D(order["executed"]), cid
            assert sum((q * p for q, p, _ in ours), D(0)) == D(order["quote"]), cid
            theirs_fee = sum(
                (
                    D(f["commission"]) * (D(f["price"]) if f["commissionAsset"] == "BTC" else 1)
                    for f in order["fills"]
                ),
                D(0),
            )
            assert sum((f for _, _, f in ours), D(0)) == theirs_fee, cid
        ledger = self.journal_rows(
            "SELECT free, reserved, in_positions, realized_pnl, fees_paid FROM ledger "
            "ORDER BY id DESC LIMIT 1"
        )
        if ledger:
            free, reserved, held, pnl, fees = map(D, ledger[0])
            assert free + reserved + held == INITIAL + pnl - fees
            assert reserved == 0  # nothing in flight
        position = self.journal_rows("SELECT qty FROM positions WHERE symbol='BTC/USDT'")
        exchange_btc = D(state["balances"].get("BTC", "0")) + D(state["locked"].get("BTC", "0"))
        assert (D(position[0][0]) if position else D(0)) == exchange_btc
        return len(orders)


def test_kill_9_with_an_order_in_flight_loses_nothing(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    orders = landed = 0
    points = ("journaled", "sent", "filled")
    try:
        harness.start()
        harness.settle()
        for i in range(KILLS):
            harness.kill()
            harness.control("/fake/silence?symbols=")  # prices move: orders happen
            harness.start(kill_at=points[i % len(points)])
            landed += harness.killed_itself(limit=20.0)
            harness.control("/fake/silence?symbols=BTCUSDT")  # no prices: nothing new
            harness.start()
            orders = harness.check(harness.settle(limit=60.0))
    finally:
        harness.close()
    print(f"{landed} of {KILLS} kills landed with an order in flight; {orders} orders in all")
    assert landed >= KILLS * 4 // 5, f"only {landed} of {KILLS} kills had an order in flight"
    assert orders >= KILLS // 3, f"only {orders} orders in {KILLS} cycles: too calm a test"
    # Every run that settled had the fills pushed as well as polled.
    subscribed = (
        (tmp_path / "engine.log").read_text(errors="replace").count("user data stream: subscribed")
    )
    assert subscribed >= KILLS, f"the user data stream subscribed {subscribed} times"
