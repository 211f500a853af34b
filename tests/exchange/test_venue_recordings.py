"""Recording and replay work the same on every venue's stream: what a venue's websocket fed
the engine is written to the recordings folder, and `replay` reads it back tick for tick."""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.exchange.venue_runs import client
from tests.fake_bybit import FakeBybit
from tests.fake_coinbase import FakeCoinbase
from tests.fake_kraken import FakeKraken
from tests.fake_okx import FakeOkx
from tradebot_tui.cli import main
from tradebot_tui.config.settings import Settings
from tradebot_tui.engine.engine import Engine
from tradebot_tui.exchange.base import QuoteBook
from tradebot_tui.exchange.bybit_ws import BybitWebsocketSource
from tradebot_tui.exchange.coinbase_ws import CoinbaseWebsocketSource
from tradebot_tui.exchange.kraken_ws import KrakenWebsocketSource
from tradebot_tui.exchange.okx_ws import OkxWebsocketSource
from tradebot_tui.exchange.paper import QuotePaperBroker
from tradebot_tui.exchange.universe import UniverseRule

VENUES: dict[str, tuple[Callable[[], Any], type]] = {
    "bybit": (lambda: FakeBybit({"C00USDT": "10.00", "C01USDT": "20.00"}), BybitWebsocketSource),
    "okx": (lambda: FakeOkx({"C00-USDT": "10.00", "C01-USDT": "20.00"}), OkxWebsocketSource),
    "kraken": (
        lambda: FakeKraken({"C00/USDT": "10.00", "C01/USDT": "20.00"}),
        KrakenWebsocketSource,
    ),
    "coinbase": (
        lambda: FakeCoinbase({"C00-USDT": "10.00", "C01-USDT": "20.00"}),
        CoinbaseWebsocketSource,
    ),
}


@pytest.mark.parametrize("venue", sorted(VENUES))
def test_a_venues_stream_is_recorded_and_replayed_tick_for_tick(
    venue: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_fake, kind = VENUES[venue]
    fake = make_fake()
    fake.start_rest()
    folder = tmp_path / "recordings"
    engines: list[Engine] = []

    async def go() -> None:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                url = await nursery.start(fake.serve)
                quotes = QuoteBook()
                rule = UniverseRule("USDT", "static", ("C00/USDT", "C01/USDT"))
                source = kind(
                    client(venue, fake.rest_url), rule, quotes, ws_url=url, rng=random.Random(1)
                )
                broker = QuotePaperBroker(D("0.001"), quotes)
                engine = Engine(Settings(), source, broker, recordings=folder)
                engines.append(engine)
                await nursery.start(engine.run)
                while engine.ticks < 60:
                    await trio.sleep(0.02)
                nursery.cancel_scope.cancel()

    try:
        trio.run(go)
    finally:
        fake.stop_rest()
    [engine] = engines  # stopped: the recorder has written everything it was given
    assert engine.recorder is not None
    ticks = engine.ticks
    assert engine.recorder.recorded == ticks >= 60
    files = sorted(folder.glob("ticks-*.jsonl.gz"))
    assert files
    capsys.readouterr()
    assert main(["replay", *map(str, files)]) == 0
    assert f"ticks         {ticks}" in capsys.readouterr().out
