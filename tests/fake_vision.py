"""Binance Vision on 127.0.0.1, from Binance's description of it
(github.com/binance/binance-public-data), with its surprises:

- a month's archive exists only once the month is over (and some days after: `lag_days`);
  before that, and for the days of the month under way, the daily archives (up to
  yesterday) are what there is; anything else is a 404, as is every day before a
  pair's listing;
- open times are milliseconds up to 2024-12-31 and microseconds from 2025-01-01;
- each archive has a `.CHECKSUM` beside it: `<sha256>  <name>`.

Knobs for meanness: a path whose archive is corrupted after its checksum was made
(`corrupt`), paths that answer 500 a number of times first (`flaky`), paths whose
connection is dropped without an answer, always (`dead`). Every request is counted.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import math
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DAY_MS = 86_400_000
MICROSECONDS_FROM_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def price_at(symbol: str, ts_ms: int) -> float:
    """A deterministic wave per symbol (the same candle whichever archive serves it)."""
    base = 20_000.0 if symbol.startswith("BTC") else 1_000.0
    minute = ts_ms // 60_000
    return round(base * (1 + 0.02 * math.sin(minute / 300) + 0.005 * math.sin(minute / 7)), 2)


def kline_csv(symbol: str, start_ms: int, end_ms: int, period_ms: int) -> str:
    rows = []
    for t in range(start_ms, end_ms, period_ms):
        close = price_at(symbol, t)
        high, low = round(close * 1.001, 2), round(close * 0.999, 2)
        shown = t * 1000 if t >= MICROSECONDS_FROM_MS else t
        close_time = (t + period_ms) * (1000 if t >= MICROSECONDS_FROM_MS else 1) - 1
        rows.append(
            f"{shown},{close:.2f},{high:.2f},{low:.2f},{close:.2f},1.5,{close_time},"
            f"{close * 1.5:.2f},10,0.7,{close * 0.7:.2f},0"
        )
    return "\n".join(rows) + "\n"


@dataclass
class Vision:
    """The archive's state; `now` is the server's clock (the client's must agree)."""

    now: datetime
    listed: dict[str, datetime] = field(default_factory=dict)  # symbol -> first day
    lag_days: int = 3
    corrupt: set[str] = field(default_factory=set)
    flaky: Counter[str] = field(default_factory=Counter)
    dead: set[str] = field(default_factory=set)
    requests: Counter[str] = field(default_factory=Counter)

    def archive(self, path: str) -> bytes | None:
        """The zip at `path` (`data/spot/.../BTCUSDT-1m-2024-01.zip`), None for 404."""
        parts = path.strip("/").split("/")
        if len(parts) != 7 or parts[:3] != ["data", "spot", parts[2]] or parts[3] != "klines":
            return None
        kind, symbol, interval, name = parts[2], parts[4], parts[5], parts[6]
        if symbol not in self.listed or interval != "1m" or not name.endswith(".zip"):
            return None
        label = name.removeprefix(f"{symbol}-{interval}-").removesuffix(".zip")
        try:
            if kind == "monthly":
                first = datetime.strptime(label, "%Y-%m").replace(tzinfo=UTC)
                nxt = (first + timedelta(days=32)).replace(day=1)
                if self.now < nxt + timedelta(days=self.lag_days):
                    return None  # not published yet
            elif kind == "daily":
                first = datetime.strptime(label, "%Y-%m-%d").replace(tzinfo=UTC)
                nxt = first + timedelta(days=1)
                if self.now < nxt:
                    return None
            else:
                return None
        except ValueError:
            return None
        start = max(first, self.listed[symbol])
        if start >= nxt:
            return None
        csv_name = name.removesuffix(".zip") + ".csv"
        text = kline_csv(symbol, ms(start), ms(nxt), 60_000)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            # The same bytes at every request, as a stored file (the checksum holds).
            z.writestr(
                zipfile.ZipInfo(csv_name, (first.year, first.month, first.day, 0, 0, 0)), text
            )
        return buf.getvalue()

    def answer(self, path: str) -> tuple[int, bytes]:
        self.requests[path] += 1
        if path.endswith(".CHECKSUM"):
            data = self.archive(path.removesuffix(".CHECKSUM"))
            if data is None:
                return 404, b"<Error><Code>NoSuchKey</Code></Error>"
            name = path.removesuffix(".CHECKSUM").rsplit("/", 1)[1]
            return 200, f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()
        data = self.archive(path)
        if data is None:
            return 404, b"<Error><Code>NoSuchKey</Code></Error>"
        if path in self.corrupt:
            data = data[:-40] + bytes(40)
        return 200, data


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@contextmanager
def serve(vision: Vision) -> Iterator[str]:
    """The archive on 127.0.0.1; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in vision.dead:
                vision.requests[path] += 1
                self.close_connection = True
                self.connection.shutdown(2)  # no status line at all
                return
            if vision.flaky[path] > 0:
                vision.flaky[path] -= 1
                vision.requests[path] += 1
                self.send_error(500, "Internal Server Error")
                return
            status, body = vision.answer(path)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header(
                "Content-Type", "application/zip" if status == 200 else "application/xml"
            )
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
