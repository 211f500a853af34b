"""Horizontal PnL bars in text: losses to the left of an axis in red, gains to the right."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(length: float) -> str:
    """A bar `length` cells long, to an eighth of a cell."""
    length = max(0.0, length)
    full = int(length)
    part = int((length - full) * 8)
    return "█" * full + (EIGHTHS[part] if part else "")


def pnl_bar(value: Decimal, scale: Decimal, width: int, up: str, down: str) -> Text:
    """`value` as a two-sided bar `2 * width + 1` cells wide: the axis in the middle, a
    loss growing left of it, a gain right of it; `scale` is the value of a full side."""
    side = float(abs(value) / scale) * width if scale > 0 else 0.0
    cells = bar(min(float(width), side))
    text = Text()
    if value < 0:
        text.append(cells.rjust(width), style=down)  # grows left, away from the axis
        text.append("│", style="dim")
        text.append(" " * width)
    else:
        text.append(" " * width)
        text.append("│", style="dim")
        text.append(cells.ljust(width), style=up if value > 0 else "")
    return text
