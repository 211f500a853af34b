"""Keeping a DataTable in step with snapshot rows, redrawing only what changed."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

Cell = str | Text


def right(text: str, style: str = "") -> Text:
    """A right-aligned cell, for numbers."""
    return Text(text, style=style, justify="right")


def cursor_key(table: DataTable[Cell]) -> str | None:
    """The key of the row under the cursor (None for an empty table)."""
    if not table.row_count or table.cursor_row >= table.row_count:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except RowDoesNotExist:
        return None


def sync_rows(
    table: DataTable[Cell],
    columns: Sequence[str],
    rows: Sequence[tuple[str, Sequence[Cell]]],
    previous: dict[str, tuple[Cell, ...]],
) -> None:
    """Make `table` show `rows` (key, cells) in order.

    Cells that did not change are not touched; when the set or order of keys changes the
    table is rebuilt and the cursor stays on the row it was on.

    Args:
        table: The table, with columns added under the keys `columns`.
        columns: Column keys, in the order of each row's cells.
        rows: The rows to show, in order.
        previous: What was shown last time, by key; updated in place.
    """
    keys = [key for key, _ in rows]
    if keys != list(previous):
        selected = cursor_key(table)
        table.clear()
        previous.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
            previous[key] = tuple(cells)
        if selected in previous:
            table.move_cursor(row=keys.index(selected))
        return
    for key, cells in rows:
        old = previous[key]
        for column, new_cell, old_cell in zip(columns, cells, old, strict=True):
            if new_cell != old_cell:
                table.update_cell(key, column, new_cell, update_width=True)
        previous[key] = tuple(cells)
