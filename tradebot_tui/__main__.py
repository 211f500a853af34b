"""Allow `python -m tradebot_tui`."""

from tradebot_tui.launch import entry

entry()
