"""What the screens read: bounded histories, recent trades and notices, and the snapshot.

The engine feeds `Views` as ticks, trades and notices happen; `snapshot()` turns that and
the trader's state into one immutable `EngineSnapshot` at most `ui.refresh_hz` times a
second. Price history is kept only when a UI is attached (`watched`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Sequence

from tradebot_tui.core.book import SymbolBook, Trade
from tradebot_tui.core.bracket import Bracket
from tradebot_tui.core.display import fmt_price, price_decimals
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.gate import CoinHold, Pause
from tradebot_tui.core.market import MarketRules, split_symbol
from tradebot_tui.core.money import ZERO, dec
from tradebot_tui.core.orders import OrderKind, Purpose
from tradebot_tui.core.ticks import Tick
from tradebot_tui.core.trader import Trader
from tradebot_tui.engine.history import MINUTE_MS, EquityHistory, PriceHistory
from tradebot_tui.engine.router import OrderRecord
from tradebot_tui.engine.snapshot import (
    EngineSnapshot,
    FocusChart,
    Notice,
    OrderRow,
    PositionRow,
    ReplayStatus,
    TallyRow,
    TradeHistory,
)
from tradebot_tui.engine.watch import RunState, WatchRow
from tradebot_tui.engine.wording import NoticeText, order_text
from tradebot_tui.journal.tallies import Tallies, Tally

TRADE_HISTORY = 200
NOTICES = 30
HISTORY_DAYS = 60  # the history screen's daily bars
DAY_MS = 86_400_000


class Views:
    """Histories, recent trades and notices of one engine, and its snapshots."""

    def __init__(self, trader: Trader, *, watched: bool) -> None:
        self._trader = trader
        self.history = PriceHistory() if watched else None
        self.equity = EquityHistory()
        self.trades: deque[Trade] = deque(maxlen=TRADE_HISTORY)
        self.stats = Tallies()
        self._history_cache: tuple[int, TradeHistory] | None = None
        # Each remembered order's row, with what it was made from: made again only when
        # the order changed (200 rows at every snapshot were a tenth of one at 5 Hz).
        self._order_cache: dict[str, tuple[tuple[object, ...], OrderRow]] = {}
        self.notices: deque[Notice] = deque(maxlen=NOTICES)
        self.focus: str | None = None
        self._notice_seq = 0
        self._seq = 0
        self._equity_minute = -1
        self._decimals: dict[str, int] = {}
        self._day = -1
        self._day_open_equity = trader.ledger.initial

    # -- feeding ---------------------------------------------------------------------------

    def notice(self, ts_ms: int, text: NoticeText) -> None:
        """Show something to the trader now (the app shows it as a notification)."""
        self._notice_seq += 1
        self.notices.append(Notice(self._notice_seq, ts_ms, *text))

    @property
    def trade_count(self) -> int:
        """Round trips closed since the journal began."""
        return self.stats.total.trades

    def add_trade(self, trade: Trade) -> None:
        self.trades.appendleft(trade)  # frozen: shown as it is
        self.stats.add(trade)

    def live_batch_starts(self, ts_ms: int) -> None:
        """A batch of live ticks begins at `ts_ms`: today's PnL counts from the UTC day's
        first tick (from the start of the run on the first day)."""
        day = ts_ms // DAY_MS
        if day != self._day:
            if self._day >= 0:
                self._day_open_equity = self._trader.equity()
            self._day = day

    def batch_done(self, ticks: Sequence[Tick], now_ms: int) -> None:
        """Sparklines and charts, when a UI is watching; equity once a minute of engine time."""
        history = self.history
        if history is None:
            return
        add = history.add
        for ts, symbol, price in ticks:
            add(ts, symbol, price)
        if now_ms // MINUTE_MS != self._equity_minute:
            self._equity_minute = now_ms // MINUTE_MS
            self.equity.add(now_ms, float(self._trader.equity()))

    def markets_changed(self, fed: Collection[str]) -> None:
        """The fed symbols changed: forget what belongs to symbols no longer fed."""
        self._decimals.clear()
        if self.history is not None:
            self.history.keep(fed)

    # -- the snapshot ----------------------------------------------------------------------

    def snapshot(
        self,
        *,
        now: int,
        mode: str,
        state: RunState,
        source: str,
        markets: dict[str, MarketRules],
        orders: Iterable[OrderRecord],
        ticks: int,
        log_seq: int,
        feed: str,
        circuit: str,
        replay: ReplayStatus | None,
        outside: frozenset[str] | None = None,
        problems: tuple[str, ...] = (),
        away: str = "",
    ) -> EngineSnapshot:
        """An immutable view of everything the screens show, at engine time `now`."""
        trader = self._trader
        ledger = trader.ledger
        params = trader.params
        self._seq += 1
        outside = outside or frozenset()
        watch, positions = self._watch_and_positions(markets, now, outside)
        equity = trader.equity()
        drift = trader.gate.detail(Pause.QUOTE_DRIFT)
        return EngineSnapshot(
            seq=self._seq,
            ts_ms=now,
            mode=mode,
            state=state,
            source=source,
            quote=ledger.quote,
            initial=ledger.initial,
            equity=equity,
            free=ledger.free,
            reserved=ledger.reserved,
            in_positions=ledger.in_positions,
            realized_pnl=ledger.realized_pnl,
            fees_paid=ledger.fees_paid,
            open_positions=trader.open_count,
            max_positions=params.max_positions,
            trigger_pct=params.trigger_pct,
            ticks=ticks,
            trades=self.trade_count,
            wins=self.stats.total.wins,
            watch=tuple(watch),
            positions=tuple(positions),
            orders=self._order_rows(orders, markets, outside),
            log_seq=log_seq,
            feed=feed,
            circuit=circuit,
            pnl_today=equity - self._day_open_equity,
            equity_curve=(*self.equity.points(), (now, float(equity))),
            recent_trades=tuple(self.trades),
            notices=tuple(self.notices),
            focus=self._focus_chart(markets),
            replay=replay,
            paused_symbols=frozenset(trader.gate.held(CoinHold.OWNER)),
            problems=problems + ((f"entries held: {drift}",) if drift else ()),
            away=away,
            history=self._history(),
            quote_drift=drift,
            dust=dust_text(trader),
        )

    def _history(self) -> TradeHistory:
        """The per-day and per-coin sums (made again only when a trade closed)."""
        if self._history_cache is None or self._history_cache[0] != self.trade_count:
            stats = self.stats

            def row(key: str, t: Tally) -> TallyRow:
                return TallyRow(key, t.trades, t.wins, t.pnl, t.fees)

            days = tuple(row(d, stats.days[d]) for d in sorted(stats.days)[-HISTORY_DAYS:])
            coins = sorted((row(s, t) for s, t in stats.coins.items()), key=lambda r: -r.pnl)
            history = TradeHistory(days, tuple(coins), row("all", stats.total))
            self._history_cache = (self.trade_count, history)
        return self._history_cache[1]

    def _watch_and_positions(
        self, markets: dict[str, MarketRules], now: int, outside: frozenset[str]
    ) -> tuple[list[WatchRow], list[PositionRow]]:
        trader = self._trader
        params = trader.params
        history = self.history
        watch: list[WatchRow] = []
        positions: list[PositionRow] = []
        books = trader.books
        status_of = trader.signals.status
        trigger_pct = params.trigger_pct
        new_row = tuple.__new__
        for symbol, rules in markets.items():
            book = books.get(symbol)
            if book is None or not book.last_ts:
                status, status_ms = status_of(symbol, now)
                watch.append(
                    new_row(
                        WatchRow,
                        (
                            symbol,
                            None,
                            None,
                            None,
                            None,
                            status,
                            status_ms,
                            price_decimals(rules, None),
                            (),
                            False,
                        ),
                    )
                )
                continue
            last = book.last_price
            decimals = self._decimals.get(symbol)
            if decimals is None:
                decimals = price_decimals(rules, last)
                if rules.price_tick is not None:
                    self._decimals[symbol] = decimals  # fixed by the market's tick
            anchor = book.anchor_price
            drop = (anchor - last) / anchor * 100 if anchor else None
            status, status_ms = status_of(symbol, now)
            watch.append(
                new_row(  # WatchRow(...) without its keyword handling: one per symbol
                    WatchRow,
                    (
                        symbol,
                        last,
                        anchor,
                        drop,
                        None if drop is None else trigger_pct - drop,
                        status,
                        status_ms,
                        decimals,
                        history.spark(symbol) if history is not None else (),
                        symbol in outside,
                    ),
                )
            )
            position = book.position
            if position is None or position.qty <= 0:
                continue
            value = position.qty * dec(last)
            exit_fee = value * params.fee_rate
            pnl = value - exit_fee - position.cost - position.entry_fees
            exits = book.watch
            stop = exits.stop_price if exits else None
            take = exits.take_price if exits else None
            protection, protected = "", True
            bracket = trader.protection(book)
            if isinstance(bracket, Bracket):
                stop, take = float(bracket.stop_price), float(bracket.take_price)
                protection = protection_text(bracket, book, decimals)
            elif selling := selling_text(book):
                protection = selling
            elif bracket is not None:
                protection, protected = f"none: {bracket}", False
            positions.append(
                PositionRow(
                    symbol=symbol,
                    qty=position.qty,
                    entry_price=position.entry_price,
                    entry_ts_ms=position.entry_ts_ms,
                    last=last,
                    cost=position.cost,
                    value=value,
                    pnl=pnl,
                    pnl_pct=float(pnl / position.cost * 100) if position.cost else 0.0,
                    held_ms=max(0, now - position.entry_ts_ms),
                    stop_price=stop,
                    take_price=take,
                    trail_price=exits.trail_price if exits else None,
                    decimals=decimals,
                    outside=symbol in outside,
                    protection=protection,
                    protected=protected,
                )
            )
        return watch, positions

    def _order_rows(
        self,
        orders: Iterable[OrderRecord],
        markets: dict[str, MarketRules],
        outside: frozenset[str],
    ) -> tuple[OrderRow, ...]:
        """The orders' rows, each made again only when its order changed."""
        kept = self._order_cache
        fresh: dict[str, tuple[tuple[object, ...], OrderRow]] = {}
        rows: list[OrderRow] = []
        for record in orders:
            intent = record.intent
            made_from = (
                intent,
                record.status,
                record.filled,
                record.value,
                record.fee,
                record.message,
                intent.symbol in outside,
                markets.get(intent.symbol),
            )
            old = kept.get(intent.client_id)
            if old is not None and old[0] == made_from:
                row = old[1]
            else:
                row = self._order_row(record, markets, outside)
            fresh[intent.client_id] = (made_from, row)
            rows.append(row)
        self._order_cache = fresh  # orders no longer remembered are forgotten
        return tuple(rows)

    @staticmethod
    def _order_row(
        record: OrderRecord, markets: dict[str, MarketRules], outside: frozenset[str]
    ) -> OrderRow:
        intent = record.intent
        return OrderRow(
            client_id=intent.client_id,
            ts_ms=intent.ts_ms,
            symbol=intent.symbol,
            side=intent.side,
            purpose=intent.purpose,
            qty=intent.qty,
            price=intent.price,
            status=record.status,
            filled=record.filled,
            avg_price=record.avg_price,
            fee=record.fee,
            reason=order_text(intent, record.message),
            decimals=price_decimals(markets.get(intent.symbol), float(intent.price)),
            outside=intent.symbol in outside,
        )

    def _focus_chart(self, markets: dict[str, MarketRules]) -> FocusChart | None:
        symbol = self.focus
        if symbol is None or self.history is None:
            return None
        book = self._trader.books.get(symbol)
        anchor = book.anchor_price if book is not None else None
        trigger = anchor * (1 - self._trader.params.trigger_pct / 100) if anchor else None
        entry = None
        if book is not None and book.position is not None and book.position.qty > 0:
            entry = (book.position.entry_ts_ms, float(book.position.entry_price))
        last = book.last_price if book is not None else None
        return FocusChart(
            symbol,
            self.history.bars(symbol),
            anchor,
            trigger,
            price_decimals(markets.get(symbol), last),
            entry,
        )


def selling_text(book: SymbolBook) -> str:
    """What is selling a position whose exits rest on the exchange, in words ("" when
    nothing is): a leg, the emergency exit, or a sale of the bot's once the list is
    cancelled (or about to be)."""
    order = book.order
    if order is not None and order.purpose is Purpose.EXIT:
        if order.reason is ExitReason.EMERGENCY_EXIT:
            return "emergency exit sent"
        if order.kind is not OrderKind.MARKET:
            return f"{order.reason} leg filling"
        return "list canceled, selling"
    resting = book.resting
    if resting is not None and book.exit_due is not None:
        if book.exit_due is ExitReason.EMERGENCY_EXIT:
            return "emergency exit: canceling the list"
        return f"{book.exit_due}: canceling the list"
    return ""


def protection_text(bracket: Bracket, book: SymbolBook, decimals: int) -> str:
    """The order list of a position, in words for the positions screen."""
    selling = selling_text(book)
    if selling:
        return selling
    kind = "trailing" if bracket.trailing else "resting"
    return f"OCO {kind} · stop limit {fmt_price(bracket.stop_limit, decimals)}"


def dust_text(trader: Trader) -> str:
    """The dust the bot holds, in a few words for the positions screen ("" if none)."""
    dust = trader.dust
    if not dust:
        return ""
    worth = ZERO
    for symbol, d in dust.items():
        book = trader.books.get(symbol)
        if book is not None and book.last_price:
            worth += d.qty * dec(book.last_price)
    names = ", ".join(split_symbol(s)[0] for s in sorted(dust))
    return f"dust of {names}, worth about {worth:.2f} {trader.ledger.quote}"
