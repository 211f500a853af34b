"""The console script's entry point: the collector off while the program loads.

A launch imports thousands of objects that live as long as the process (modules,
classes, the settings' dataclasses); Python's collector walked them again and again
while they were made (28 passes before the command line was even read). `cli.main`
turns it back on for every command once the arguments are parsed; the app keeps it off
until its first frame is out (`cli.run.run`).
"""

from __future__ import annotations

import gc


def entry() -> None:
    gc.disable()
    from tradebot_tui.cli import entry as run_command

    run_command()
