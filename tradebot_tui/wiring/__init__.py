"""The composition root: what one run of the bot is made of, and how it is plugged together.

The engine trades and knows nothing of the owner's notifications, Telegram or the health
file; the venues know nothing of the engine. Here a run is assembled from the settings:
the market-data source and the broker (`sources`), the journal (`journals`), the engine,
and the services off the trading path plugged into it (`away`). `bot` puts them together
(nautilus_trader's `live/node_builder.py` is the model). Only the command line imports
this package.
"""
