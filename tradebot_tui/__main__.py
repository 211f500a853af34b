"""Allow `python -m tradebot_tui`."""

from tradebot_tui.cli import entry

entry()
