"""`tune --plot`: Optuna's own views of a study: the optimisation history, the settings'
importances and a contour of two settings (optuna.visualization, plotly figures)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tradebot_tui.plot.html import PlotError, plotly, write_page


def write_tune_plot(path: Path, study: Any, name: str, keys: Sequence[str]) -> None:
    """The study's history, importances and the contour of its first two searched
    settings (or `keys` when given)."""
    plotly()
    import optuna
    from optuna import visualization as views

    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(done) < 2:
        raise PlotError(
            f"--plot: study {name!r} has {len(done)} finished trial(s); the plot needs two"
        )
    figures = [views.plot_optimization_history(study)]
    searched = [k for k in keys if any(k in t.params for t in done)]
    varied = [k for k in searched if len({t.params.get(k) for t in done}) > 1]
    if varied:
        try:
            figures.append(views.plot_param_importances(study, params=varied))
        except (RuntimeError, ValueError) as exc:  # too few distinct trials to weigh
            optuna.logging.get_logger("optuna").info("importances skipped: %s", exc)
    if len(varied) >= 2:
        figures.append(views.plot_contour(study, params=varied[:2]))
    write_page(path, f"tradebot-tui tune: study {name}", figures)
