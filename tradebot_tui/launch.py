"""The console script's entry point: the collector off while the program loads.

A launch makes hundreds of thousands of objects that live as long as the process
(modules, classes, dataclasses, styles, widgets): Python's collector walked them 125
times before the app's first frame, 40 ms of a 400 ms start (measured with
gc.callbacks). `cli.main` turns it back on once the arguments are parsed, for every
command but the app; the app turns it on once its first frame is out.
"""

from __future__ import annotations

import gc


def entry() -> None:
    gc.disable()
    from tradebot_tui.cli import entry as run_command

    run_command()
