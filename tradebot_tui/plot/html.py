"""Writing plotly figures to one self-contained HTML file (plotly.js inside it, so the
page opens without network), whole under a temporary name, then renamed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tradebot_tui.core.errors import TradebotError


class PlotError(TradebotError):
    """A plot cannot be made or written: said in one line, exit 2."""


def plotly() -> Any:
    """The plotly package, or a PlotError that says how to install it."""
    try:
        import plotly
    except ImportError:
        raise PlotError(
            "--plot needs plotly, an optional extra: pip install -e '.[plot]'"
        ) from None
    return plotly


def write_page(path: Path, title: str, figures: Sequence[Any]) -> None:
    """One page holding every figure, in order."""
    parts = [
        figure.to_html(full_html=False, include_plotlyjs=(i == 0), default_width="100%")
        for i, figure in enumerate(figures)
    ]
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body style='font-family:sans-serif'>"
        f"<h2>{title}</h2>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PlotError(f"--plot {path}: {exc.strerror or exc}") from None
