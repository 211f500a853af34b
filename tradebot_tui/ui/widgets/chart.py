"""A line chart in braille dots (2 x 4 per cell), with level lines and markers.

Drawn on the Line API: the grid of characters and colour names is computed when the data
or the size changes, and `render_line` turns one grid row into a strip. Level lines (an
anchor, a trigger) are dashed rows of their own colour; markers (entries, exits) are
single characters placed over the line at their time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

# Braille dot bits by (x, y) inside a 2 x 4 cell.
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
LABEL_WIDTH = 12


@dataclass(frozen=True, slots=True)
class Level:
    value: float
    label: str
    component: str  # a chart--<component> class


@dataclass(frozen=True, slots=True)
class Marker:
    ts_ms: int
    value: float
    char: str
    component: str


@dataclass(slots=True)
class ChartData:
    title: str = ""
    points: Sequence[tuple[int, float]] = ()
    levels: Sequence[Level] = ()
    markers: Sequence[Marker] = ()
    decimals: int = 2
    empty_text: str = "no data yet"
    extra: dict[str, str] = field(default_factory=dict)


def fmt_axis(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


class Chart(Widget):
    """One chart: a title line, the plot with a value axis, a time axis."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "chart--title",
        "chart--axis",
        "chart--line",
        "chart--anchor",
        "chart--trigger",
        "chart--entry",
        "chart--exit",
        "chart--up",
        "chart--down",
    }
    DEFAULT_CSS = """
    Chart {
        height: 1fr;
        background: $surface;
        & > .chart--title { color: $foreground; text-style: bold; }
        & > .chart--axis { color: $text-muted; }
        & > .chart--line { color: $primary; }
        & > .chart--anchor { color: $secondary; }
        & > .chart--trigger { color: $warning; }
        & > .chart--entry { color: $success; text-style: bold; }
        & > .chart--exit { color: $error; text-style: bold; }
        & > .chart--up { color: $success; }
        & > .chart--down { color: $error; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = ChartData()
        self._grid: list[list[tuple[str, str]]] = []
        self._grid_size = (0, 0)

    def set_data(self, data: ChartData) -> None:
        self.data = data
        self._grid_size = (0, 0)
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._grid_size = (0, 0)

    # -- layout ----------------------------------------------------------------------------

    def _build(self, width: int, height: int) -> None:
        data = self.data
        grid: list[list[tuple[str, str]]] = [[(" ", "")] * width for _ in range(height)]
        self._grid = grid
        self._grid_size = (width, height)

        def put(x: int, y: int, text: str, component: str) -> None:
            for i, ch in enumerate(text):
                if 0 <= x + i < width and 0 <= y < height:
                    grid[y][x + i] = (ch, component)

        put(1, 0, data.title, "title")
        if data.extra:
            extra = "  ".join(f"{k} {v}" for k, v in data.extra.items())
            put(max(len(data.title) + 3, width - len(extra) - 1), 0, extra, "axis")
        plot_h = height - 2
        plot_w = width - LABEL_WIDTH - 1
        points = list(data.points)
        if plot_h < 2 or plot_w < 4 or len(points) < 1:
            put(LABEL_WIDTH, max(1, height // 2), data.empty_text, "axis")
            return
        values = [v for _, v in points] + [lv.value for lv in data.levels]
        values += [m.value for m in data.markers]
        low, high = min(values), max(values)
        if high - low < abs(high) * 1e-9 or high == low:
            pad = abs(high) * 0.001 or 1.0
            low, high = low - pad, high + pad
        t0, t1 = points[0][0], points[-1][0]
        for m in data.markers:
            t0, t1 = min(t0, m.ts_ms), max(t1, m.ts_ms)
        span_t = max(1, t1 - t0)
        dots_w, dots_h = plot_w * 2, plot_h * 4

        def dot_x(ts: int) -> int:
            return min(dots_w - 1, int((ts - t0) / span_t * (dots_w - 1)))

        def dot_y(value: float) -> int:
            return min(dots_h - 1, int((high - value) / (high - low) * (dots_h - 1)))

        # Level lines first, under the price line.
        for level in data.levels:
            row = 1 + dot_y(level.value) // 4
            for x in range(LABEL_WIDTH, width, 2):
                put(x, row, "╌", level.component)
            tag = f" {level.label} {fmt_axis(level.value, data.decimals)} "
            put(width - len(tag) - 1, row, tag, level.component)
        # The line: each consecutive pair of points joined dot by dot.
        cells: dict[tuple[int, int], int] = {}

        def dot(xx: int, yy: int) -> None:
            key = (xx // 2, yy // 4)
            cells[key] = cells.get(key, 0) | _DOTS[yy % 4][xx % 2]

        prev: tuple[int, int] | None = None
        for ts, value in points:
            x, y = dot_x(ts), dot_y(value)
            if prev is None:
                dot(x, y)
            else:
                steps = max(abs(x - prev[0]), abs(y - prev[1]), 1)
                for i in range(1, steps + 1):
                    dot(
                        prev[0] + round((x - prev[0]) * i / steps),
                        prev[1] + round((y - prev[1]) * i / steps),
                    )
            prev = (x, y)
        for (cx, cy), bits in cells.items():
            put(LABEL_WIDTH + cx, 1 + cy, chr(0x2800 + bits), "line")
        for m in data.markers:
            put(LABEL_WIDTH + dot_x(m.ts_ms) // 2, 1 + dot_y(m.value) // 4, m.char, m.component)
        # Value axis: high, middle, low.
        for row, value in ((1, high), (1 + (plot_h - 1) // 2, (high + low) / 2), (plot_h, low)):
            put(
                0,
                row,
                fmt_axis(value, data.decimals).rjust(LABEL_WIDTH - 1)[-(LABEL_WIDTH - 1) :],
                "axis",
            )
        # Time axis: start, middle, end (UTC).
        fmt = "%H:%M" if span_t <= 86_400_000 else "%m-%d %H:%M"
        bottom = height - 1
        for frac, align in ((0.0, "left"), (0.5, "center"), (1.0, "right")):
            text = time.strftime(fmt, time.gmtime((t0 + span_t * frac) / 1000))
            x = LABEL_WIDTH + int(frac * (plot_w - 1))
            if align == "center":
                x -= len(text) // 2
            elif align == "right":
                x -= len(text) - 1
            put(x, bottom, text, "axis")

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if (width, height) != self._grid_size:
            self._build(width, height)
        if y >= len(self._grid):
            return Strip.blank(width, self.rich_style)
        base = self.rich_style
        segments: list[Segment] = []
        run_text: list[str] = []
        run_component = None
        for ch, component in self._grid[y]:
            if component != run_component and run_text:
                segments.append(Segment("".join(run_text), self._style(base, run_component)))
                run_text = []
            run_component = component
            run_text.append(ch)
        if run_text:
            segments.append(Segment("".join(run_text), self._style(base, run_component)))
        return Strip(segments, width)

    def _style(self, base: Style, component: str | None) -> Style:
        if not component:
            return base
        return base + self.get_component_rich_style(f"chart--{component}", partial=True)
