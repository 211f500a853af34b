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

A second run, side by side with the first, does the same with `exits.on_exchange`: its
kills also aim at an order list's windows (journaled, answered, cancel in flight, a leg
adopted), a leg often fills while the bot is down, and after every restart each list and
leg on the exchange is the journal's, a leg that sold was booked once, and what is held
rests in one open list.
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
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
KILLS = int(os.environ.get("TRADEBOT_CRASH_KILLS", "50"))
INITIAL = D(1000)
STEP, MIN_QTY = D("0.00001"), D("0.00001")  # the fake's BTCUSDT lot size

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


class Harness:
    def __init__(self, tmp: Path, exits: str = "max_hold_s = 60\n", phase_s: float = 1.0) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.fake = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fake_exchange",
                "--sawtooth",
                "--phase-s",
                str(phase_s),
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
            f"[exits]\n{exits}"
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
            legs = {cid for x in state["lists"] for cid in x["legs"]}
            open_there = [
                o["client_id"]
                for o in state["orders"]
                if o["status"] in ("NEW", "PARTIALLY_FILLED") and o["client_id"] not in legs
            ]
            if self.protected_at is None and self.protected(state):
                self.protected_at = time.monotonic()
            placing = self.journal_rows("SELECT 1 FROM order_lists WHERE status='placing'")
            if (
                not open_here
                and not open_there
                and not placing
                and len(started) >= self.starts
                and self.protected(state)
            ):
                return state
            time.sleep(0.1)
        pytest.fail(f"orders did not settle:\n{self.engine_log()}")

    starts = 0
    on_exchange = False
    protected_at: float | None = None  # when what is held first rested in a list

    def held(self) -> D:
        position = self.journal_rows("SELECT qty FROM positions WHERE symbol='BTC/USDT'")
        return D(position[0][0]) if position else D(0)

    def protected(self, state: dict[str, Any]) -> bool:
        """With exits on the exchange: what is held (in whole steps) rests in one open
        list, and no list rests for nothing."""
        if not self.on_exchange:
            return True
        resting = [x for x in state["lists"] if not x["done"]]
        sellable = (self.held() // STEP) * STEP
        if sellable < MIN_QTY:
            return not resting
        return len(resting) == 1 and D(resting[0]["qty"]) == sellable

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
        legs = {row[0] for row in self.journal_rows("SELECT above FROM order_lists")}
        legs |= {row[0] for row in self.journal_rows("SELECT below FROM order_lists")}
        lists = {row[0] for row in self.journal_rows("SELECT list_id FROM order_lists")}
        assert {x["client_id"] for x in state["lists"]} <= lists, "a list the journal lacks"
        for order in orders:
            cid = order["client_id"]
            if cid in legs and cid not in intents:  # a leg that never executed
                assert D(order["executed"]) == 0, f"leg {cid} sold and was never booked"
                continue
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


def cycles(harness: Harness, points: tuple[str, ...]) -> tuple[int, int, list[float], list[float]]:
    """KILLS times: kill, start aimed at the next point while prices move, start again
    without prices, settle and check. Returns the kills that landed, the orders on the
    exchange, and the seconds each restart took to settle and (with lists) to have what
    is held resting in a list, each sorted."""
    orders = landed = 0
    settled_in: list[float] = []
    protected_in: list[float] = []
    harness.start()
    harness.settle()
    for i in range(KILLS):
        harness.kill()
        harness.control("/fake/silence?symbols=")  # prices move: orders happen
        harness.start(kill_at=points[i % len(points)])
        landed += harness.killed_itself(limit=20.0)
        harness.control("/fake/silence?symbols=BTCUSDT")  # no prices: nothing new
        started = time.monotonic()
        harness.protected_at = None
        harness.start()
        state = harness.settle(limit=60.0)
        settled_in.append(time.monotonic() - started)
        assert harness.protected_at is not None
        protected_in.append(harness.protected_at - started)
        orders = harness.check(state)
    return landed, orders, sorted(settled_in), sorted(protected_in)


def orders_in_flight(tmp_path: Path) -> str:
    """The bot's exits in the process; kills aimed at an order's three windows."""
    harness = Harness(tmp_path)
    try:
        landed, orders, _, _ = cycles(harness, ("journaled", "sent", "filled"))
    finally:
        harness.close()
    assert landed >= KILLS * 4 // 5, f"only {landed} of {KILLS} kills had an order in flight"
    assert orders >= KILLS // 3, f"only {orders} orders in {KILLS} cycles: too calm a test"
    # Every run that settled had the fills pushed as well as polled.
    subscribed = (
        (tmp_path / "engine.log").read_text(errors="replace").count("user data stream: subscribed")
    )
    assert subscribed >= KILLS, f"the user data stream subscribed {subscribed} times"
    return f"{landed} of {KILLS} kills landed with an order in flight; {orders} orders in all"


def lists_in_flight(tmp_path: Path) -> str:
    """With `exits.on_exchange`: each position's take-profit and stop rest on the fake as
    an OCO. The price's cycle buys at 67,900, arms the trailing stop at 69,100 (the list is
    cancelled and placed again higher) and fills the take-profit leg at 71,500, so every
    cycle journals, sends and cancels lists and adopts a leg; the kills aim at those
    windows as well as the orders'. A leg often fills while the bot is down. Each price
    holds half a second (the bot looks every 0.2 s). After every restart, besides the
    checks of the orders: every list and leg on the exchange is the journal's, a leg that
    sold was booked, and what is held rests in one open list."""
    harness = Harness(
        tmp_path,
        "max_hold_s = 60\non_exchange = true\ntake_profit_pct = 5\n"
        "trailing_activation_pct = 1\ntrailing_distance_pct = 0.5\n",
        phase_s=0.5,
    )
    harness.on_exchange = True
    points = (
        "list_journaled",
        "list_sent",
        "list_cancel",
        "leg_adopted",
        "journaled",
        "sent",
        "filled",
    )
    try:
        landed, orders, settled_in, protected_in = cycles(harness, points)
        lists = len(harness.journal_rows("SELECT 1 FROM order_lists"))
        adopted = len(harness.journal_rows("SELECT 1 FROM intents WHERE adopted=1"))
    finally:
        harness.close()
    assert landed >= KILLS * 4 // 5, f"only {landed} of {KILLS} kills had something in flight"
    assert lists >= KILLS // 3 and adopted >= KILLS // 5, "too calm a test"
    half = len(settled_in) // 2
    return (
        f"exits on the exchange: {landed} of {KILLS} kills landed; {orders} orders, {lists} "
        f"lists, {adopted} legs booked; after a restart what is held rested in a list in "
        f"{protected_in[half]:.1f} s (median), {protected_in[-1]:.1f} s at most (goal 5 s), "
        f"and orders in doubt were settled in {settled_in[half]:.1f} s, "
        f"{settled_in[-1]:.1f} s at most"
    )


def test_kill_9_in_every_window_loses_nothing_and_sells_nothing_twice(tmp_path: Path) -> None:
    """Both runs side by side, each with its own fake exchange, journal and bot (the
    kills wait on the exchange's prices far more than they use the CPU)."""
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(orders_in_flight, tmp_path / "orders"),
            pool.submit(lists_in_flight, tmp_path / "lists"),
        ]
        for run in runs:
            print(run.result())
