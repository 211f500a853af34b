"""Market-data sources and brokers behind small async interfaces."""
