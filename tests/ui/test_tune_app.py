"""`tune --tui`: progress, the best trials and the heatmap, updated as batches finish."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import DataTable, ProgressBar, Static

from tradebot_tui.tune import study as tune
from tradebot_tui.tune.workers import InProcess, load_data
from tradebot_tui.ui.tune_app import HeatMap, TuneApp

from ..test_cli_tune import data_dir, write_klines


async def test_the_app_shows_a_resumed_study_growing_and_stops_cleanly(
    tmp_path: Path, isolated_home: Path
) -> None:
    from tradebot_tui.cli import main

    data = [str(p) for p in write_klines(tmp_path / "data")]
    assert main(["tune", *data, "--trials", "8", "--workers", "1", "--min-trades", "0"]) == 0
    storage = tune.open_storage(data_dir(isolated_home))
    study, setup = tune.load_study(storage, "default")
    runner = InProcess(setup, load_data(setup.paths))
    keys = ("exits.stop_loss_pct", "exits.take_profit_pct")
    app = TuneApp(study, setup, runner, 16, keys, "default")
    async with app.run_test(size=(150, 40)) as pilot:
        for _ in range(300):  # at most 30 s
            if app.finished:
                break
            await asyncio.sleep(0.1)
        await pilot.pause()
        assert app.finished
        table = app.query_one(DataTable)
        assert table.row_count == 24  # the 8 trials before and the 16 of this run
        assert app.query_one(ProgressBar).progress == 16
        status = str(app.query_one("#status", Static).render())
        assert "study 'default'" in status and "done" in status
        heat = str(app.query_one(HeatMap).render())
        assert "sl% →" in heat and "tp% ↑" in heat and "range" in heat
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0
    assert len(study.get_trials()) == 24


async def test_q_stops_after_the_batch_in_flight_and_leaves_the_study_resumable(
    tmp_path: Path, isolated_home: Path
) -> None:
    from tradebot_tui.cli import main

    data = [str(p) for p in write_klines(tmp_path / "data")]
    assert main(["tune", *data, "--trials", "1", "--workers", "1"]) == 0
    storage = tune.open_storage(data_dir(isolated_home))
    study, setup = tune.load_study(storage, "default")
    runner = InProcess(setup, load_data(setup.paths))
    app = TuneApp(study, setup, runner, 2000, ("exits.stop_loss_pct", "strategy.trigger_pct"), "x")
    async with app.run_test() as pilot:
        for _ in range(100):
            if app.query_one(ProgressBar).progress:
                break
            await asyncio.sleep(0.1)
        await pilot.press("q")
        for _ in range(300):
            if app.finished:
                break
            await asyncio.sleep(0.1)
        await pilot.pause(0.3)
    assert app.return_value == 130
    trials = study.get_trials()
    assert 1 < len(trials) < 2001
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
