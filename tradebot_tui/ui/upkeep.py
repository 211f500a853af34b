"""The app's upkeep off the screen: the stylesheets parsed after the first frame, and the
garbage collector kept from stalling the event loop."""

from __future__ import annotations

import gc

from textual.app import App

from tradebot_tui.assets import asset_dir

# Full garbage collections run on this schedule instead of when Python's counters say.
FULL_GC_EVERY_S = 30.0
# Young collections once this many container objects were made (Python's default: 700).
YOUNG_GC_AFTER = 10_000


def load_other_stylesheets(app: App[None]) -> None:
    """Every screen's stylesheet not parsed yet, in one pass (Textual parses the whole
    stylesheet again for each addition)."""
    sheet = app.stylesheet
    new = [
        p for p in sorted(asset_dir("screens").glob("*.tcss")) if not sheet.has_source(str(p), "")
    ]
    if not new:
        return
    for path in new:
        sheet.read(path)
    sheet.reparse()
    sheet.update(app)


def schedule_full_gc(app: App[None]) -> None:
    """Collect the oldest generation every `FULL_GC_EVERY_S`, not when Python decides.

    Under the UI benchmark's load (500 coins at 5 Hz) Python ran a full collection every
    3-4 s, and each held the event loop for 30-100 ms (measured with gc.callbacks):
    render caches and snapshot rows live long enough to reach the oldest generation. A
    key pressed then waited for it. Cyclic garbage of the old one waits at most this long.

    The youngest generation is collected after `YOUNG_GC_AFTER` new objects instead of
    700. A snapshot's rows live until the next one (200 ms at 5 Hz), so at 700 a young
    collection found most of them alive, walked them and moved them on to be walked
    again: 19 young collections a second took 1.3 % of a core under the benchmark's
    load. At 10,000 they come less than once a second, the rows are gone by then, and
    each takes about 1 ms (all measured with gc.callbacks).
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_GC_AFTER), middle, 1_000_000)
    app.set_interval(FULL_GC_EVERY_S, _full_gc, name="full gc")


def _full_gc() -> None:
    # A function, not `gc.collect` itself: Textual's timer cannot call a builtin (its
    # `count_parameters` looks for `__func__` and crashed the app).
    gc.collect()


def settle_gc(app: App[None]) -> None:
    """Leave what exists now (modules, widgets, built screens: alive as long as the app)
    out of the garbage collector's full passes. Without this, a full pass over them
    stalled the event loop for 50-170 ms a few times a minute under load (measured with
    gc.callbacks in the UI benchmark), and a key pressed then waited. Not in a headless
    run (tests): apps come and go there, and frozen objects are never collected."""
    if not app.is_headless:
        gc.freeze()
