"""Parameter search: Optuna studies whose every trial is an exact replay.

`trials` shares the work every trial would repeat, `workers` runs trials here, in local
processes or on Ray, `study` keeps the Optuna study, `space` says what is searched and
scores it, `report` shows the results. What the UI uses of it is named here.
"""

from tradebot_tui.tune.report import (
    Heat,
    heat,
    progress_text,
    rank,
    rows,
    short,
    side_cells,
    value_text,
)
from tradebot_tui.tune.study import Progress, Row, run_trials
from tradebot_tui.tune.workers import Runner, Setup

__all__ = [
    "Heat",
    "Progress",
    "Row",
    "Runner",
    "Setup",
    "heat",
    "progress_text",
    "rank",
    "rows",
    "run_trials",
    "short",
    "side_cells",
    "value_text",
]
