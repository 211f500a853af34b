"""The trades file: one closed round trip a line, the same bytes for the same trades.

`symbol,entry_ts_ms,entry_price,exit_ts_ms,exit_price,qty,exit_reason,pnl_quote`, written by
`replay --trades-out` and `trades`, read by spreadsheets and by the tests that compare
two runs byte for byte (docs/architecture.md, "Files and formats").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from tradebot_tui.config.files import write_atomic
from tradebot_tui.core.book import Trade
from tradebot_tui.core.money import fmt_decimal
from tradebot_tui.core.stats import TRADES_CSV_HEADER


def trades_csv(trades: Sequence[Trade]) -> str:
    """The trades file's text: same trades, same bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRADES_CSV_HEADER.split(","))
    for t in trades:
        writer.writerow(
            (
                t.symbol,
                t.entry_ts_ms,
                fmt_decimal(t.entry_price),
                t.exit_ts_ms,
                fmt_decimal(t.exit_price),
                fmt_decimal(t.qty),
                t.exit_reason.value,
                fmt_decimal(t.pnl),
            )
        )
    return out.getvalue()


def write_trades(path: Path, trades: Sequence[Trade]) -> None:
    """Write the trades file at `path` (atomic: a cut write leaves the old file)."""
    write_atomic(path, trades_csv(trades).encode())
