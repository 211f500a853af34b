"""What the engine says: notices for the trader and its main log lines, as pure functions.

Every sentence the engine shows or logs about orders, trades and commands is made here
from plain values, so that it can be read and tested in one place. Nothing here logs,
reads a clock or touches engine state.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import NamedTuple

from tradebot_tui.config.settings import Settings
from tradebot_tui.core.book import Trade
from tradebot_tui.core.display import fmt_price, fmt_qty
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.market import split_symbol
from tradebot_tui.core.money import fmt_decimal
from tradebot_tui.core.orders import OrderIntent, OrderStatus, Purpose, Side


class NoticeText(NamedTuple):
    """A notice before it is stamped: title, message, severity, and whether it answers
    something the trader did (always shown, never summed up in a burst)."""

    title: str
    message: str
    severity: str = "information"  # or "warning", "error"
    answer: bool = False
    event: str = ""  # the kind of notification it makes ([notify] settings), if any


def _reason(text: str) -> str:
    return text.replace("_", " ")


# -- orders and trades -------------------------------------------------------------------------


def intent_line(intent: OrderIntent, decimals: int) -> str:
    """The log line of a new order: `BUY 0.00147 BTC/USDT @ 68000.00: 2.90% below anchor …`."""
    price = fmt_price(intent.price, decimals)
    if intent.purpose is Purpose.ENTRY:
        drop = intent.drop_pct if intent.drop_pct is not None else 0.0
        anchor = fmt_price(intent.anchor, decimals)
        return (
            f"BUY {fmt_qty(intent.qty)} {intent.symbol} @ {price}: {drop:.2f}% below anchor "
            f"{anchor}"
        )
    reason = intent.reason.value if intent.reason else "manual"
    return f"SELL {fmt_qty(intent.qty)} {intent.symbol} @ {price}: {_reason(reason)}"


def trade_line(trade: Trade, quote: str) -> str:
    """The log line of a closed trade: `closed BTC/USDT: take profit, pnl +1.23 USDT`."""
    return (
        f"closed {trade.symbol}: {_reason(trade.exit_reason.value)}, pnl {trade.pnl:+.2f} {quote}"
    )


def trade_notice(trade: Trade, quote: str, decimals: int, *, news: bool = False) -> NoticeText:
    """A position was sold: how much, at what price, for what result. A sale by hand
    answers the key that asked for it, unless `news` (asked from away)."""
    return NoticeText(
        f"Sold {trade.symbol}: {_reason(trade.exit_reason.value)}",
        f"{fmt_qty(trade.qty)} @ {fmt_price(trade.exit_price, decimals)}, "
        f"PnL {trade.pnl:+.2f} {quote}",
        "information" if trade.pnl >= 0 else "warning",
        answer=trade.exit_reason is ExitReason.MANUAL and not news,
        event="fills",
    )


def order_closed_notice(
    intent: OrderIntent,
    status: OrderStatus,
    filled: Decimal,
    avg_price: Decimal | None,
    message: str,
    decimals: int,
) -> NoticeText:
    """An order ended without closing a trade: bought (perhaps in part), or nothing."""
    side = "Bought" if intent.side is Side.BUY else "Sold"
    if filled > 0 and avg_price is not None:
        tail = "" if status is OrderStatus.FILLED else f" ({status.value})"
        return NoticeText(
            f"{side} {intent.symbol}",
            f"{fmt_qty(filled)} @ {fmt_price(avg_price, decimals)}{tail}",
            event="fills",
        )
    what = "buy" if intent.side is Side.BUY else "sell"
    failed = status in (OrderStatus.FAILED, OrderStatus.REJECTED)
    return NoticeText(
        f"{intent.symbol}: {what} {status.value}",
        message or f"{intent.client_id} ended without a fill.",
        "error" if failed else "warning",
        event="errors" if failed else "",
    )


def protection_notice(symbol: str, message: str) -> NoticeText:
    """Something happened to a position's order list on the exchange the bot did not do."""
    return NoticeText(f"{symbol}: protection on the exchange", message, "warning", event="errors")


def unexplained_notice(symbol: str, message: str) -> NoticeText:
    """Something about one of our orders cannot be explained: entries on the coin stop."""
    return NoticeText(
        f"{symbol}: unexplained order" if symbol else "Unexplained order",
        f"{message}. Entries on {symbol or 'this coin'} stay stopped until you have looked.",
        "error",
        event="errors",
    )


def earlier_orders_notice(count: int, bought: str) -> NoticeText:
    """A fresh journal found orders of earlier journals of the profile on the account."""
    held = f" Bought and not sold since: {bought}." if bought else ""
    return NoticeText(
        "New journal",
        f"The account has {count} recent order(s) of earlier journals; this one does not "
        f"manage them (see the log).{held}",
        "warning",
    )


def order_text(intent: OrderIntent, message: str) -> str:
    """The orders screen's reason column: why the order was placed, and how it ended."""
    why = _reason(intent.reason.value) if intent.reason else "drop trigger"
    return f"{why}: {message}" if message else why


# -- answers to the trader's commands ----------------------------------------------------------


def no_position(symbol: str) -> NoticeText:
    return NoticeText(
        f"Exit {symbol}", "No open position to exit (sold already?).", "warning", answer=True
    )


def dust_swept(converted: list[str], refused: dict[str, str]) -> NoticeText:
    """A sweep went out: the coins converted, and those that were not and why."""
    coins = ", ".join(split_symbol(s)[0] for s in converted)
    message = f"Converting the dust of {coins} to BNB."
    if refused:
        message += " Not converted: " + "; ".join(f"{s}: {why}" for s, why in refused.items())
    return NoticeText("Dust sweep", message, answer=True)


def dust_not_swept(refused: dict[str, str]) -> NoticeText:
    """Nothing to convert: no dust, or why none of it can be converted."""
    if not refused:
        return NoticeText("Dust sweep", "No dust to convert.", answer=True)
    why = "; ".join(f"{s}: {reason}" for s, reason in refused.items())
    return NoticeText("Dust sweep", f"Nothing converted. {why}", "warning", answer=True)


def nothing_to_exit() -> NoticeText:
    return NoticeText("Exit all", "No open position to exit.", "warning", answer=True)


def symbol_toggled(symbol: str, *, paused: bool) -> NoticeText:
    if paused:
        return NoticeText(symbol, "Entries paused for this coin; its exits continue.", answer=True)
    return NoticeText(symbol, "Entries resumed for this coin.", answer=True)


def cancel_not_open(client_id: str, status: OrderStatus | None) -> NoticeText:
    why = "unknown order" if status is None else f"already {status.value}"
    return NoticeText(
        "Cancel", f"{client_id}: not open ({why}); nothing to cancel.", "warning", answer=True
    )


def cancel_immediate(client_id: str) -> NoticeText:
    return NoticeText(
        "Cancel", f"{client_id}: this broker fills at once; nothing to cancel.", answer=True
    )


def cancel_sent(intent: OrderIntent) -> NoticeText:
    paused = (
        f" Entries on {intent.symbol} are paused (z on the watchlist resumes them)."
        if intent.purpose is Purpose.ENTRY
        else ""
    )
    return NoticeText(
        "Cancel sent",
        f"{intent.client_id} ({intent.symbol}): cancel requested.{paused}",
        answer=True,
    )


def cancel_failed(client_id: str, why: str) -> NoticeText:
    return NoticeText(
        "Cancel failed", f"{client_id}: the exchange did not cancel it: {why}", "error", answer=True
    )


def not_in_error(symbol: str) -> NoticeText:
    return NoticeText(symbol, "Not in error: nothing to retry.", "warning", answer=True)


def retrying(symbol: str, why: str) -> NoticeText:
    return NoticeText(
        f"Retry {symbol}",
        f"Settling its order in doubt now ({why})." if why else "Settling its order now.",
        answer=True,
    )


def healed(symbol: str) -> NoticeText:
    return NoticeText(symbol, "Its order in doubt is settled: trading it again.")


def exit_after_entry(symbol: str) -> NoticeText:
    return NoticeText(
        f"Exit {symbol}",
        "Its buy order is still open: what it buys is sold as soon as it ends.",
        answer=True,
    )


def exit_after_list(symbol: str) -> NoticeText:
    return NoticeText(
        f"Exit {symbol}",
        "Its take-profit and stop-loss rest on the exchange: that order list is cancelled "
        "first, then what no leg sold meanwhile is sold.",
        answer=True,
    )


def exit_due(symbol: str) -> NoticeText:
    return NoticeText(
        f"Exit {symbol}",
        "Its order is in doubt: it is being settled now, and the position is sold as soon "
        "as it is.",
        "warning",
        answer=True,
    )


def still_paused(reasons: list[str]) -> NoticeText:
    """The trader resumed, and entries stay paused for reasons of other sources."""
    return NoticeText(
        "Entries stay paused",
        f"Paused by: {', '.join(reasons)}; they resume once that is over.",
        "warning",
        answer=True,
    )


def kill_switch(reason: str) -> NoticeText:
    """The kill switch tripped: everything is being sold and entries stop."""
    return NoticeText(
        "Kill switch: selling everything, entries stopped",
        f"{reason}. Resume entries (space) to re-arm it from the equity then.",
        "error",
        event="alerts",
    )


def journal_back(still: Iterable[str] = ()) -> NoticeText:
    """The journal can be written again; `still`: the other reasons entries stay paused."""
    held = ", ".join(still)
    if held:
        return NoticeText("Journal", f"It can be written again; entries stay paused ({held}).")
    return NoticeText("Journal", "It can be written again: entries resume.")


def settings_applied(changed: list[str], later: list[str]) -> NoticeText:
    text = ", ".join(changed) if changed else "nothing changed"
    message = f"Now in effect: {text}."
    if later:
        message += f" Next start: {', '.join(later)}."
    return NoticeText("Settings applied", message, answer=True)


def not_a_replay() -> NoticeText:
    return NoticeText("Replay", "Not a replay: nothing to control.", "warning", answer=True)


# -- the engine's own lines ----------------------------------------------------------------------


def started_line(mode: str, source: str, symbols: int, settings: Settings) -> str:
    """The engine's first line: what it trades, on what, with how much."""
    budget, strategy = settings.budget, settings.strategy
    return (
        f"engine started: {mode.lower()} trading on {source} data, {symbols} symbols, budget "
        f"{fmt_decimal(budget.initial)} {budget.quote}, stake {fmt_decimal(budget.stake)}, "
        f"trigger {strategy.trigger_pct:.2f}% below the {strategy.anchor} anchor"
    )


def balance_lines(quote: str, free: Decimal, budget: Decimal) -> list[tuple[int, str]]:
    """(logging level, line) pairs: what the account holds against the budget."""
    lines = [
        (
            logging.INFO,
            f"exchange balance: {fmt_decimal(free)} {quote} free; trading budget "
            f"{fmt_decimal(budget)}",
        )
    ]
    if free < budget:
        lines.append(
            (
                logging.WARNING,
                f"the free {quote} balance ({fmt_decimal(free)}) is below budget.initial "
                f"({fmt_decimal(budget)}): entries will fail with insufficient funds once it "
                "is spent",
            )
        )
    return lines


def holding_mismatch(base: str, ours: Decimal, theirs: Decimal) -> str:
    """Why reconciliation holds a symbol: both figures."""
    return f"holding {fmt_decimal(ours)} {base} here, {fmt_decimal(theirs)} on the exchange"


def quote_mismatch(quote: str, ours: Decimal, theirs: Decimal) -> str:
    """Why reconciliation holds every entry: how the quote balance changed, both ways."""
    return (
        f"{quote} since the journal began: {_signed(ours)} here, {_signed(theirs)} on the exchange"
    )


def quote_accepted(quote: str, ours: Decimal, theirs: Decimal) -> str:
    return (
        f"the exchange's {quote} balance accepted ({_signed(theirs - ours)} {quote} "
        "deposited or withdrawn outside the bot)"
    )


def balance_not_reconciled() -> NoticeText:
    return NoticeText("Balance", "Only a live account's balance is reconciled", answer=True)


def balance_refused(why: str) -> NoticeText:
    return NoticeText("Balance not accepted", why[:1].upper() + why[1:], "warning", answer=True)


def balance_accepted(line: str) -> NoticeText:
    return NoticeText("Balance", line[:1].upper() + line[1:], "warning", answer=True)


def _signed(value: Decimal) -> str:
    text = fmt_decimal(value)
    return text if text.startswith("-") else f"+{text}"


def foreign_open_order(client_id: str) -> str:
    return f"open order {client_id} on the exchange is not ours to follow"


# -- stopping --------------------------------------------------------------------------------


def left_open(
    held: Iterable[tuple[str, Decimal]], *, live: bool, resting: Collection[str] = ()
) -> str:
    """What a stop leaves behind: the positions still held, and what guards them until
    the bot runs again ("" when nothing is held): nothing, or, for those in `resting`,
    their take-profit and stop-loss resting on the exchange."""
    held = list(held)
    if not held:
        return ""
    what = ", ".join(f"{symbol} {fmt_qty(qty)}" for symbol, qty in held)
    n = len(held)
    it, its, stays = ("they", "their", "stay") if n > 1 else ("it", "its", "stays")
    where = "on the exchange account" if live else "in the paper journal"
    start = f"stopped with {n} open position{'s' if n > 1 else ''} ({what}): {it} {stays} {where}"
    guarded = [symbol for symbol, _ in held if symbol in resting]
    if not guarded:
        return (
            f"{start}, and {its} exits (stop-loss, take-profit, trailing stop, max hold) do "
            "not run until the bot starts again"
        )
    if len(guarded) == n:
        return (
            f"{start}; {its} take-profit and stop-loss rest on the exchange as order lists; "
            "the trailing stop and max hold do not run until the bot starts again"
        )
    return (
        f"{start}; {', '.join(guarded)} keep{'s' if len(guarded) == 1 else ''} take-profit "
        "and stop-loss on the exchange as order lists; every other exit does not run until "
        "the bot starts again"
    )
