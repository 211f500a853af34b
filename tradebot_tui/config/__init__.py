"""Settings: the typed schema, TOML load and save, file locations and secrets."""
