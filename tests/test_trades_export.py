"""`tradebot-tui trades`: the journal's closed trades, exactly as the running bot saw them."""

from __future__ import annotations

import json

import pytest
import trio
import trio.lowlevel

from tests.engine.test_paper_journal import engine
from tradebot_tui.cli import main
from tradebot_tui.config.locations import locate
from tradebot_tui.config.settings import Settings
from tradebot_tui.core.money import fmt_decimal
from tradebot_tui.data.trades_csv import trades_csv
from tradebot_tui.journal.store import Journal


def run_paper_bot(steps: int = 3000) -> object:
    path = locate(None).journal("paper", "paper")
    bot = engine(Settings(), Journal.open(path, profile="paper"), steps)

    async def main_() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(bot.run)
                while bot.trades < 8:
                    await trio.sleep(0.01)
                while bot.trader.open_orders() or bot.following:
                    await trio.lowlevel.checkpoint()
                nursery.cancel_scope.cancel()

    trio.run(main_)
    return bot


def test_trades_equal_the_running_bots_and_sums_equal_its_tallies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bot = run_paper_bot()
    assert main(["trades"]) == 0
    out = capsys.readouterr().out
    assert out == trades_csv(list(reversed(bot.views.trades)))  # type: ignore[attr-defined]
    assert main(["trades", "--by", "day", "--format", "json"]) == 0
    days = json.loads(capsys.readouterr().out)
    tallies = bot.views.stats.days  # type: ignore[attr-defined]
    assert {d["day"]: (d["trades"], d["pnl"]) for d in days} == {
        day: (t.trades, fmt_decimal(t.pnl)) for day, t in tallies.items()
    }
    assert main(["trades", "--by", "coin"]) == 0
    coins = capsys.readouterr().out.splitlines()
    assert coins[0] == "symbol,trades,won,pnl,fees" and len(coins) > 1


@pytest.mark.parametrize(
    ("args", "table"),
    [
        ([], "symbol,entry_ts_ms,entry_price,exit_ts_ms,exit_price,qty,exit_reason,pnl_quote\n"),
        (["--by", "day"], "day,trades,won,pnl,fees\n"),
        (["--by", "coin"], "symbol,trades,won,pnl,fees\n"),
        (["--format", "json"], "[]\n"),
    ],
    ids=["trades", "by day", "by coin", "json"],
)
def test_nothing_traded_yet_is_an_empty_table(
    args: list[str], table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trades", "--mode", "live", *args]) == 0
    captured = capsys.readouterr()
    assert captured.out == table
    assert "no journal at" in captured.err and "live-paper.db" in captured.err
    assert captured.err.startswith("config        no file at ")
