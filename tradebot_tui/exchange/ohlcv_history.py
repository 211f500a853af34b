"""Candle history from any ccxt exchange (`fetch_ohlcv`), a page at a time.

One client per download, requests one after another at the exchange's own rate limit
(ccxt's `enableRateLimit`, from each exchange's documented limits): parallel requests to
one venue would only be throttled, or banned.
"""

from __future__ import annotations

from tradebot_tui.exchange.ccxt_markets import make_exchange

PAGE_CANDLES = 500  # what most venues return at most per request (Binance 1000, Kraken 720)
Row = tuple[int, float, float, float, float, float]  # open time ms, o, h, l, c, volume


class NotOffered(Exception):
    """The exchange has no such exchange id, pair or timeframe."""


class Unreachable(Exception):
    """The exchange could not be asked (network, server, rate limit): try again later."""


class CcxtHistory:
    """The candles of one exchange, any of its spot pairs."""

    def __init__(self, name: str, *, rest_url: str = "") -> None:
        import ccxt

        try:
            self.client = make_exchange(name, rest_url=rest_url, timeout_s=30.0)
        except ValueError as exc:
            raise NotOffered(f"--exchange: {exc}") from None
        self.client.enableRateLimit = True
        self.name = name
        self._ccxt = ccxt

    def check(self, pairs: list[str], timeframe: str) -> None:
        """Raises NotOffered for a pair or a timeframe the exchange does not have
        (Unreachable when it cannot be asked)."""
        timeframes = self.client.timeframes or {}
        if timeframe not in timeframes:
            raise NotOffered(
                f"--timeframe {timeframe!r}: {self.name} has {', '.join(timeframes) or 'none'}"
            )
        try:
            markets = self.client.load_markets()
        except self._ccxt.BaseError as exc:
            raise Unreachable(f"{self.name} markets: {type(exc).__name__}: {exc}") from None
        unknown = [p for p in pairs if p not in markets]
        if unknown:
            raise NotOffered(f"--pairs: {self.name} has no {', '.join(unknown)}")

    def page(self, pair: str, timeframe: str, start_ms: int, end_ms: int) -> list[Row]:
        """The candles opening in [start_ms, end_ms), at most PAGE_CANDLES, in time order."""
        try:
            rows = self.client.fetch_ohlcv(pair, timeframe, since=start_ms, limit=PAGE_CANDLES)
        except self._ccxt.BadSymbol as exc:
            raise NotOffered(f"{self.name} {pair}: {exc}") from None
        except self._ccxt.BaseError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from None
        out: list[Row] = []
        previous = -1
        for row in rows:
            ts = int(row[0])
            if not start_ms <= ts < end_ms or ts <= previous:
                continue
            previous = ts
            volume = float(row[5]) if len(row) > 5 and row[5] is not None else 0.0
            out.append((ts, float(row[1]), float(row[2]), float(row[3]), float(row[4]), volume))
        return out


def page_starts(start_ms: int, end_ms: int, period_ms: int) -> list[tuple[int, int]]:
    """[start, end) of each page covering the range."""
    span = PAGE_CANDLES * period_ms
    return [(t, min(t + span, end_ms)) for t in range(start_ms, end_ms, span)]
