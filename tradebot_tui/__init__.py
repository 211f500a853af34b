"""tradebot-tui: a terminal-native crypto trading bot."""

__version__ = "0.1.0"
