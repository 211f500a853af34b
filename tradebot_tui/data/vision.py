"""Binance Vision (data.binance.vision): Binance's public archives of spot klines.

Layout, as Binance documents it (github.com/binance/binance-public-data): one zip per
symbol, interval and month at `data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip`,
one per day at `data/spot/daily/klines/.../BTCUSDT-1m-2024-01-15.zip`, each with a
`.CHECKSUM` file beside it (`<sha256>  <file name>`). A month's archive appears some days
after the month ends, a day's the day after; before that (and for days before a symbol
was listed) the server answers 404. Each zip holds one headerless CSV of 12 columns:
open time, open, high, low, close, volume, close time, quote volume, trades, taker buy
base, taker buy quote, ignore. Open times are milliseconds up to 2024-12-31 and
microseconds from 2025-01-01 on.

Every archive is checked against its checksum before a byte of it is used.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime

from tradebot_tui import __version__
from tradebot_tui.data.history import (
    Candles,
    ChecksumMismatch,
    FetchFailed,
    HistoryError,
    Piece,
)
from tradebot_tui.data.vision_address import BASE_URL

TIMEFRAMES = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
TIMEOUT_S = 30.0
RETRY_DELAYS_S = (1.0, 3.0)  # after the first and the second failed try
# A month's archive may still be missing this long after the month ends; its days are
# fetched instead. An older month without an archive has no candles (not yet listed).
MONTH_PUBLISHED_WITHIN_MS = 15 * 86_400_000
MICROSECONDS_FROM = 10**14  # an open time this large is in microseconds (2025 on)


def month_start(ts_ms: int) -> datetime:
    day = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _next_month(when: datetime) -> datetime:
    return (
        when.replace(year=when.year + 1, month=1)
        if when.month == 12
        else when.replace(month=when.month + 1)
    )


def pieces(start_ms: int, end_ms: int, now_ms: int) -> list[Piece]:
    """The archives covering [start_ms, end_ms): months that are over, days of the month
    under way (up to yesterday: a day's archive comes the day after)."""
    this_month = month_start(now_ms)
    today = _ms(
        datetime.fromtimestamp(now_ms / 1000, UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    )
    out: list[Piece] = []
    month = month_start(start_ms)
    while _ms(month) < end_ms:
        following = _next_month(month)
        if month < this_month:
            out.append(Piece(month.strftime("%Y-%m"), _ms(month), _ms(following)))
        else:
            out.extend(days(max(start_ms, _ms(month)), min(end_ms, today)))
        month = following
    return out


def days(start_ms: int, end_ms: int) -> list[Piece]:
    """One piece per UTC day meeting [start_ms, end_ms)."""
    out = []
    day = start_ms - start_ms % 86_400_000
    while day < end_ms:
        label = datetime.fromtimestamp(day / 1000, UTC).strftime("%Y-%m-%d")
        out.append(Piece(label, day, day + 86_400_000))
        day += 86_400_000
    return out


class VisionSource:
    """Fetches one pair's archives; each call is independent (threads share it)."""

    def __init__(self, pair: str, timeframe: str, base_url: str = BASE_URL, *, now_ms: int) -> None:
        if timeframe not in TIMEFRAMES:
            raise HistoryError(
                f"--timeframe {timeframe!r}: Binance Vision has {', '.join(TIMEFRAMES)}"
            )
        self.pair = pair
        self.symbol = pair.replace("/", "")
        self.timeframe = timeframe
        self.base_url = base_url.rstrip("/")
        self.now_ms = now_ms

    def url(self, piece: Piece) -> str:
        kind = "daily" if len(piece.label) == 10 else "monthly"
        name = f"{self.symbol}-{self.timeframe}-{piece.label}.zip"
        return f"{self.base_url}/data/spot/{kind}/klines/{self.symbol}/{self.timeframe}/{name}"

    def __call__(self, piece: Piece) -> Candles | None:
        """The piece's candles; None when Binance Vision has no such archive.

        A month just over whose archive is not out yet is fetched a day at a time.

        Raises:
            FetchFailed: the network or the server failed, three times.
            ChecksumMismatch: the archive is not what its checksum says.
            HistoryError: the archive is not Binance's kline CSV.
        """
        url = self.url(piece)
        data = get(url)
        if data is None:
            if len(piece.label) == 10 or piece.end_ms + MONTH_PUBLISHED_WITHIN_MS < self.now_ms:
                return None
            found = [c for day in days(piece.start_ms, piece.end_ms) if (c := self(day))]
            if not found:
                return None
            joined = Candles()
            for part in found:
                joined.extend(part)
            return joined
        listed = get(url + ".CHECKSUM")
        if listed is None:
            raise ChecksumMismatch(f"{url}: no .CHECKSUM beside it, so it was not used")
        expected = listed.decode("ascii", "replace").split()[0].lower() if listed.split() else ""
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ChecksumMismatch(
                f"{url}: its SHA-256 is {actual}, its .CHECKSUM says {expected or 'nothing'}"
            )
        return parse_archive(data, url)


def get(url: str) -> bytes | None:
    """The body at `url`; None on 404.

    Raises:
        FetchFailed: anything else went wrong, on each of three tries.
    """
    request = urllib.request.Request(url, headers={"User-Agent": f"tradebot-tui/{__version__}"})
    problem = ""
    for attempt in range(len(RETRY_DELAYS_S) + 1):
        if attempt:
            time.sleep(RETRY_DELAYS_S[attempt - 1])
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                return bytes(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            problem = f"HTTP {exc.code} {exc.reason}"
            if exc.code < 500 and exc.code != 429:
                break  # asking again would get the same answer
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            problem = f"{type(exc).__name__}: {reason}"
    raise FetchFailed(f"{url}: {problem}")


def parse_archive(data: bytes, url: str) -> Candles:
    """The candles of one kline zip.

    Raises:
        HistoryError: a bad zip, or a row that is not a kline (named by file and line).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.endswith(".csv")]
            if len(names) != 1:
                raise HistoryError(f"{url}: expected one CSV in the zip, found {len(names)}")
            text = archive.read(names[0]).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise HistoryError(f"{url}: not a kline archive ({exc})") from None
    candles = Candles()
    previous = -1
    for number, row in _rows(text):
        where = f"{url}, {names[0]} line {number}"
        if len(row) < 6:
            raise HistoryError(f"{where}: {len(row)} columns, a kline has 12")
        if number == 1 and not row[0].strip().isdigit():
            continue  # a header line (some archives of 2022 carry one)
        try:
            ts = int(row[0])
            values = [float(x) for x in row[1:6]]
        except ValueError:
            raise HistoryError(f"{where}: not a number in {','.join(row[:6])!r}") from None
        if ts >= MICROSECONDS_FROM:
            ts //= 1000
        if ts <= previous:
            raise HistoryError(f"{where}: open time {ts} is not after the line before")
        if any(not v >= 0 for v in values) or not values[1] >= values[2]:
            raise HistoryError(f"{where}: not a candle ({','.join(row[1:6])})")
        previous = ts
        candles.append(ts, *values)
    return candles


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if row:
            yield number, row
