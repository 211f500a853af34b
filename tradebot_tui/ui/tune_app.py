"""`tune --tui`: the search in the app: progress with ETA, the best trials (in-sample and
out-of-sample side by side) and a heatmap of the best objective over two settings.

The study runs in a thread (its trials in the worker processes); each finished batch is
shown. `q` stops once the batches in flight are told, which leaves the study resumable.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, ProgressBar, Static

from tradebot_tui import tune
from tradebot_tui.tune import (
    Heat,
    Runner,
    Setup,
    heat,
    progress_text,
    rank,
    rows,
    short,
    side_cells,
    value_text,
)


class HeatMap(Static):
    """Best in-sample value per cell; green is better, red worse, `·` not tried yet."""

    def show(self, h: Heat) -> None:
        span = h.span
        text = Text()
        text.append(f"{short(h.y.key)} ↑   best in-sample value by cell\n", style="bold")
        for line, row in enumerate(h.cells):
            edge = h.y.high - (h.y.high - h.y.low) * line / len(h.cells)
            text.append(f"{edge:>8.2f} ")
            for value in row:
                if value is None or span is None:
                    text.append("   ·", style="dim")
                    continue
                low, high = span
                share = 0.5 if high == low else (value - low) / (high - low)
                red, green = int(200 * (1 - share)), int(60 + 160 * share)
                cell = f"{value:+4.0f}"[-4:]
                text.append(cell, style=f"bold white on rgb({red},{green},60)")
            text.append("\n")
        text.append(" " * 9 + f"{h.x.low:<.2f}".ljust(4 * len(h.cells[0]) - 4))
        text.append(f"{h.x.high:.2f}\n")
        text.append(" " * 9 + f"{short(h.x.key)} →")
        if span is not None:
            text.append(f"   range {span[0]:+.3f} .. {span[1]:+.3f}", style="dim")
        self.update(text)


class TuneApp(App[int]):
    """The study's progress, best trials and heatmap, updated after each batch."""

    TITLE = "tradebot-tui tune"
    CSS = """
    #status { height: 1; padding: 0 1; }
    ProgressBar { padding: 0 1; }
    #body { height: 1fr; }
    DataTable { width: 2fr; }
    HeatMap { width: 1fr; min-width: 60; padding: 0 1; border-left: solid $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "stop", "Stop (resumable)")]

    def __init__(
        self,
        study: Any,
        setup: Setup,
        runner: Runner,
        trials: int,
        heat_keys: tuple[str, str],
        name: str,
    ) -> None:
        super().__init__()
        self.study, self.setup, self.runner = study, setup, runner
        self.trials, self.study_name = trials, name
        knobs = {k.key: k for k in setup.knobs}
        self.heat_knobs = (knobs[heat_keys[0]], knobs[heat_keys[1]])
        self.stopping = False
        self.finished = False
        self.outcome = 0
        self.found: list[tune.Row] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static(self._status("starting"), id="status")
            yield ProgressBar(total=self.trials, show_eta=True)
            with Horizontal(id="body"):
                yield DataTable(zebra_stripes=True, cursor_type="row")
                yield HeatMap()
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("trial")
        for k in self.setup.knobs:
            table.add_column(short(k.key))
        for side in ("in", "out"):
            table.add_columns(f"{side} trades", f"{side} pnl", f"{side} {self.setup.objective}")
        self.found = rows(self.study)  # a resumed study's trials; then each batch's
        self.refresh_results()
        self.search()

    def _status(self, state: str) -> str:
        s = self.setup
        return (
            f"study {self.study_name!r} · objective {s.objective} · {self.runner.workers} "
            f"worker(s) · {state}"
        )

    @work(thread=True, exit_on_error=False)
    def search(self) -> None:
        def on_batch(progress: tune.Progress, batch: list[tune.Row]) -> None:
            self.call_from_thread(self.batch_done, progress, batch)

        state = "done"
        try:
            progress = tune.run_trials(
                self.study, self.setup, self.runner, self.trials, on_batch, lambda: self.stopping
            )
            if progress.done < self.trials:
                state = "stopped: `tune --resume` goes on"
                self.outcome = 130
        except Exception as exc:  # shown, and the study stays consistent (batch failed)
            state = f"failed: {exc}"
            self.outcome = 1
        self.call_from_thread(self._finished, state)

    def _finished(self, state: str) -> None:
        """On the app's thread, as `action_stop` is: no race between the two."""
        self.finished = True
        self.query_one("#status", Static).update(self._status(state))
        if self.stopping:  # `q` was pressed: leave now that the batches in flight are told
            self.exit(self.outcome)

    def batch_done(self, progress: tune.Progress, batch: list[tune.Row]) -> None:
        self.query_one(ProgressBar).update(progress=progress.done)
        self.query_one("#status", Static).update(self._status(progress_text(progress, 0)))
        self.found = sorted([*self.found, *batch], key=rank)
        self.refresh_results()

    def refresh_results(self) -> None:
        found = self.found
        table = self.query_one(DataTable)
        table.clear()
        objective = self.setup.objective
        for r in found[:50]:
            cells = [f"#{r.number}"]
            cells += [value_text(r.params.get(k.key), k) for k in self.setup.knobs]
            cells += side_cells(r.inside, objective) + side_cells(r.outside, objective)
            table.add_row(*cells)
        self.query_one(HeatMap).show(heat(found, *self.heat_knobs))

    def action_stop(self) -> None:
        if self.finished:
            self.exit(self.outcome)
            return
        self.stopping = True
        self.query_one("#status", Static).update(self._status("stopping after this batch…"))


def run_tune_app(
    study: Any, setup: Setup, runner: Runner, trials: int, heat_keys: tuple[str, str], name: str
) -> int:
    app = TuneApp(study, setup, runner, trials, heat_keys, name)
    code = app.run()
    return code or 0
